"""The real daemon with ``--mqtt``: a streamed clip becomes retained state and discovery,
a killed daemon is announced offline by the broker's last will, and a broker restart
never interrupts WebSocket subscribers.

Every await has a timeout: a hung broker interaction must fail the test, not CI.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.support.daemon import RunningDaemon, recv_json
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import (
    BASE,
    NODE,
    STEP_S,
    Watcher,
    broker,
    example_clip,
    start_mqtt_daemon,
    stream_audio,
)
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["broker"]
RETRYING = "retrying in"
"""What the daemon logs on each failed attempt to reach its broker."""


def ended(d: RunningDaemon) -> dict[str, float] | None:
    """The daemon's stats once its one stream has come and gone, else None."""
    stats = d.stats()
    return stats if stats["streams_total"] == 1 and stats["streams"] == 0 else None


async def test_daemon_streamed_clip_gives_retained_state_and_discovery(
    broker: Mosquitto, tmp_path: Path
) -> None:
    d = start_mqtt_daemon(tmp_path, broker)
    try:
        async with Watcher(broker, "homeassistant/#", f"{BASE}/#") as w:
            await stream_audio(d, "tab-1", example_clip("calm"), speed=1.5)
            conf = await w.wait(f"homeassistant/sensor/{NODE}/tab-1_mood/config", timeout=60)
            assert "speech" in conf.json()["options"]
            # The stream ends (after ``bye``) once the clip's last event is published.
            stats = await until(lambda: ended(d), 60, "the clip's analysis to finish")
            final_seq = stats["events_published"] - 1
            event = await w.wait(f"{BASE}/tab-1/event", lambda m: m.json()["seq"] == final_seq)
            last = event.json()
            await w.wait(f"{BASE}/tab-1/state", lambda m: m.json()["seq"] == last["seq"])
        async with Watcher(broker, f"{BASE}/#") as late:
            # The first copy a newcomer gets is the retained one; live updates may follow.
            state = await late.wait(f"{BASE}/tab-1/state", lambda m: m.retain, timeout=STEP_S)
            body = state.json()
            assert body["seq"] == last["seq"] and body["state"] == last["state"]
            assert body["calm_probability"] == last["calm_probability"]
            assert body["media_time_s"] == last["media_time_s"] > 15.0
            assert body["state"] == "calm", body  # the calm example ends calm
            avail = await late.wait(f"{BASE}/availability")
            assert avail.retain and avail.payload == b"online"
    finally:
        assert d.stop() == 0, d.log()
    async with Watcher(broker, f"{BASE}/availability") as after:
        gone = await after.wait(f"{BASE}/availability")
        assert gone.payload == b"offline"  # a clean stop says goodbye itself


async def test_daemon_sigkill_makes_broker_publish_offline(
    broker: Mosquitto, tmp_path: Path
) -> None:
    d = start_mqtt_daemon(tmp_path, broker)
    try:
        async with Watcher(broker, f"{BASE}/availability") as w:
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online", timeout=30)
            d.proc.send_signal(signal.SIGKILL)
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"offline")
    finally:
        d.proc.kill()
        d.proc.wait(STEP_S)


async def test_broker_restart_while_websocket_subscriber_keeps_receiving(
    broker: Mosquitto, tmp_path: Path
) -> None:
    d = start_mqtt_daemon(tmp_path, broker)
    backoff_max_s = 3.0
    try:
        async with Watcher(broker, f"{BASE}/availability") as w:
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online", timeout=30)
        received: list[tuple[float, dict[str, Any]]] = []

        async def subscriber() -> None:
            async with connect(d.ws_url("/v1/events"), additional_headers=d.auth) as ws:
                while True:
                    msg = await recv_json(ws, 30)
                    if msg.get("type") == "mood":
                        received.append((time.monotonic(), msg))

        sub = asyncio.create_task(subscriber())
        feeder = asyncio.create_task(
            stream_audio(d, "tab-9", example_clip("calm", repeat=2), speed=2.0)
        )
        try:
            await until(lambda: len(received) >= 2, 60, "first events")
            failures = d.log().count(RETRYING)
            broker.stop()
            await until(lambda: d.log().count(RETRYING) > failures, STEP_S,
                        "the daemon to notice the broker is gone")  # fmt: skip
            down_at = time.monotonic()
            await until(lambda: sum(t > down_at for t, _ in received) >= 2, STEP_S,
                        "WebSocket events while the broker is down")  # fmt: skip
            assert d.alive()
            mark = broker.log_mark()
            broker.start()
            up_at = time.monotonic()
            async with Watcher(broker, f"{BASE}/#", "homeassistant/#") as w:
                budget = backoff_max_s + 5
                await w.wait(f"{BASE}/tab-9/state", timeout=budget)
                # Discovery is not retained, and the daemon may reconnect before this
                # watcher subscribes: ask the broker what it received instead.
                discovery = f"homeassistant/sensor/{NODE}/tab-9_mood/config"
                await until(lambda: discovery in broker.received_topics(mark), STEP_S,
                            "discovery re-sent to the restarted broker")  # fmt: skip
                await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online")
                assert time.monotonic() - up_at < budget + 1
                n = len(received)
                await until(lambda: len(received) > n, 30, "events after restart")
            assert d.stats()["mqtt_reconnects"] >= 1
        finally:
            for task in (feeder, sub):
                task.cancel()
            await asyncio.wait_for(asyncio.gather(feeder, sub, return_exceptions=True), STEP_S)
    finally:
        assert d.stop() == 0, d.log()
