"""Many daemons, one broker: two real daemons with their own node ids publish to one real
mosquitto, and a consumer group shares their events through an MQTT 5 shared subscription
(``$share/<group>/...``): every event reaches exactly one member of the group.

Every await has a timeout: a hung broker interaction must fail the test, not CI.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest
from websockets.asyncio.client import connect

from streamchill.streamer.sources.decode import decode_file
from tests.conftest import example_path
from tests.support.daemon import RunningDaemon, recv_json, start_daemon
from tests.support.mosquitto import Mosquitto, available

STEP_S = 10.0  # generous bound for one broker round trip on a loaded CI machine
EVENTS = "streamchill/+/+/event"
GROUP = f"$share/moods/{EVENTS}"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if not available():
        pytest.fail("mosquitto is not installed: apt-get install mosquitto mosquitto-clients")
    with Mosquitto(tmp_path / "broker") as running:
        yield running


class Member:
    """One subscriber client: a member of the consumer group, or (``topic`` without
    ``$share``) an ordinary subscriber that sees every event."""

    def __init__(self, broker: Mosquitto, topic: str, client_id: str) -> None:
        self.broker, self.topic, self.client_id = broker, topic, client_id
        self.got: list[dict[str, Any]] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Member:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), STEP_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait_for(asyncio.gather(self._task, return_exceptions=True), STEP_S)

    async def _run(self) -> None:
        async with aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            timeout=STEP_S,
        ) as client:
            await client.subscribe(self.topic, qos=1)
            self._ready.set()
            async for message in client.messages:
                node = message.topic.value.split("/")[1]
                assert isinstance(message.payload, bytes)
                self.got.append({"node": node, **json.loads(message.payload)})


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


async def settled(members: list[Member], everyone: Member, quiet_s: float = 2.0) -> None:
    """Wait until the full subscriber heard nothing new for ``quiet_s`` and the group has
    received as many events as it did (bounded)."""
    deadline = time.monotonic() + 90
    last, since = -1, time.monotonic()
    while True:
        total = sum(len(m.got) for m in members)
        if len(everyone.got) != last:
            last, since = len(everyone.got), time.monotonic()
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
            Member(broker, EVENTS, "everyone") as everyone,
            Member(broker, GROUP, "worker-1") as one,
            Member(broker, GROUP, "worker-2") as two,
        ):
            await asyncio.gather(
                *(stream_example(daemons[node], "player", kind) for node, kind in rooms.items())
            )
            await settled([one, two], everyone)
        key = lambda e: (e["node"], e["stream"], e["seq"])  # noqa: E731
        group = [key(e) for e in one.got + two.got]
        assert len(group) == len(set(group)), "an event reached two members of the group"
        assert sorted(group) == sorted(key(e) for e in everyone.got)
        assert one.got and two.got, "the broker gave the whole stream to one member"
        for node in rooms:  # each daemon's events, in order from the first, none missing
            seqs = sorted(seq for n, _, seq in group if n == node)
            assert seqs == list(range(len(seqs))) and len(seqs) >= 5, (node, seqs)
    finally:
        for d in daemons.values():
            assert d.stop() == 0, d.log()
