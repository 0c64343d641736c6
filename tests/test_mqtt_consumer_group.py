"""Many daemons, one broker: two real daemons with their own node ids publish to one real
mosquitto, and a consumer group shares their events through an MQTT 5 shared subscription
(``$share/<group>/...``): every event reaches exactly one member of the group.

Every await has a timeout: a hung broker interaction must fail the test, not CI.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect

from streamchill.streamer.sources.decode import decode_file
from tests.conftest import example_path
from tests.support.daemon import RunningDaemon, recv_json, start_daemon
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import STEP_S, Watcher, broker

__all__ = ["broker"]  # the fixture, used by name

EVENTS = "streamchill/+/+/event"
GROUP = f"$share/moods/{EVENTS}"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def received(watcher: Watcher) -> list[dict[str, Any]]:
    """The events a client got, each with the node id its topic names."""
    return [{"node": s.topic.split("/")[1], **s.json()} for s in watcher.seen]


def start_node(workdir: Path, broker: Mosquitto, node_id: str) -> RunningDaemon:
    config_dir = workdir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(f'[mqtt]\nnode_id = "{node_id}"\n')
    clean_env = {"STREAMCHILL_MQTT_USERNAME": "", "STREAMCHILL_MQTT_PASSWORD": ""}
    return start_daemon(workdir, "--mqtt", broker.url, env=clean_env)


async def stream_example(d: RunningDaemon, stream: str, kind: str) -> None:
    """A shipped example into ``/v1/audio`` in 100 ms frames, as fast as the socket takes it."""
    audio = decode_file(example_path(kind))
    pcm = np.ascontiguousarray(audio.samples, dtype="<f4").tobytes()
    step = audio.sample_rate_hz // 10 * audio.channels * 4
    async with connect(d.ws_url("/v1/audio"), additional_headers=d.auth) as ws:
        hello = {"type": "hello", "v": 1, "stream": stream, "sample_rate_hz": audio.sample_rate_hz,
                 "channels": audio.channels, "sample_format": "f32le"}  # fmt: skip
        await asyncio.wait_for(ws.send(json.dumps(hello)), STEP_S)
        assert (await recv_json(ws))["type"] == "ready"
        for i in range(0, len(pcm), step):
            await asyncio.wait_for(ws.send(pcm[i : i + step]), STEP_S)
        await asyncio.wait_for(ws.send(json.dumps({"type": "bye"})), STEP_S)


async def settled(members: list[Watcher], everyone: Watcher, quiet_s: float = 2.0) -> None:
    """Wait until the full subscriber heard nothing new for ``quiet_s`` and the group has
    received as many events as it did (bounded)."""
    deadline = time.monotonic() + 90
    last, since = -1, time.monotonic()
    while True:
        total = sum(len(m.seen) for m in members)
        if len(everyone.seen) != last:
            last, since = len(everyone.seen), time.monotonic()
        elif time.monotonic() - since >= quiet_s and total >= last > 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"group got {total} events, a plain subscriber {last}")
        await asyncio.sleep(0.05)


async def test_a_consumer_group_shares_two_daemons_events_exactly_once(
    broker: Mosquitto, tmp_path: Path
) -> None:
    rooms = {"room-a": "calm", "room-b": "aggressive"}
    daemons = {node: start_node(tmp_path / node, broker, node) for node in rooms}
    try:
        async with (
            Watcher(broker, EVENTS, client_id="everyone", v5=True) as everyone,
            Watcher(broker, GROUP, client_id="worker-1", v5=True) as one,
            Watcher(broker, GROUP, client_id="worker-2", v5=True) as two,
        ):
            await asyncio.gather(
                *(stream_example(daemons[node], "player", kind) for node, kind in rooms.items())
            )
            await settled([one, two], everyone)
        key = lambda e: (e["node"], e["stream"], e["seq"])  # noqa: E731
        group = [key(e) for e in received(one) + received(two)]
        assert len(group) == len(set(group)), "an event reached two members of the group"
        assert sorted(group) == sorted(key(e) for e in received(everyone))
        assert one.seen and two.seen, "the broker gave the whole stream to one member"
        for node in rooms:  # each daemon's events, in order from the first, none missing
            seqs = sorted(seq for n, _, seq in group if n == node)
            assert seqs == list(range(len(seqs))) and len(seqs) >= 5, (node, seqs)
    finally:
        for d in daemons.values():
            assert d.stop() == 0, d.log()
