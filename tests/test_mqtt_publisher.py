"""The MQTT publisher against a real mosquitto: retained state, Home Assistant discovery
and its birth message, and availability (online, a clean offline, the last will on a crash).

Every await has a timeout: a hung broker interaction must fail the test, not CI.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streamchill.analyzer.events import MoodState
from streamchill.streamer.mqtt.publisher import MqttPublisher
from streamchill.streamer.mqtt.settings import sanitize_id
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import (
    BASE,
    NODE,
    STEP_S,
    Feed,
    Running,
    Watcher,
    broker,
    make_event,
    settings_for,
)
from tests.support.waiting import until

pytestmark = pytest.mark.integration
__all__ = ["broker"]
REPO = Path(__file__).resolve().parents[1]


async def test_retained_state_and_discovery(broker: Mosquitto) -> None:
    publisher = MqttPublisher(settings_for(broker))
    feed = Feed()
    weird = "My tab/#2"
    key = sanitize_id(weird)
    async with (
        Watcher(broker, "homeassistant/#", f"{BASE}/+/event") as live,
        Running(publisher, feed),
    ):
        await until(lambda: publisher.connected, STEP_S, "connect")
        feed.push(make_event("system", 0, MoodState.WARMING_UP, 0.5))
        feed.push(make_event("system", 1, MoodState.SPEECH, 0.2))
        feed.push(make_event("system", 2, MoodState.CALM, 0.87))
        feed.push(make_event(weird, 0, MoodState.AGGRESSIVE, 0.05))
        for stream in ("system", key):
            conf = await live.wait(f"homeassistant/sensor/{NODE}/{stream}_mood/config")
            assert not conf.retain
            assert conf.json()["state_topic"] == f"{BASE}/{stream}/state"
            await live.wait(f"homeassistant/sensor/{NODE}/{stream}_bpm/config")
            await live.wait(f"homeassistant/sensor/{NODE}/{stream}_calm_probability/config")
        await live.wait(f"{BASE}/system/event", lambda m: m.json()["seq"] == 2)
        assert all(not m.retain for m in live.matching(f"{BASE}/system/event"))
        # A newcomer (Home Assistant starting later) gets the latest state, retained.
        async with Watcher(broker, f"{BASE}/#") as late:
            state = await late.wait(f"{BASE}/system/state", lambda m: m.json()["seq"] == 2)
            assert state.retain
            body = state.json()
            assert body["state"] == "calm" and body["calm_probability"] == 0.87
            assert body["bpm"] == 72.4 and body["danceability"] == 1.1
            assert body["media_time_s"] == 2.0
            assert body["updated_at"].endswith("+00:00")
            other = await late.wait(f"{BASE}/{key}/state")
            assert other.retain and other.json()["stream"] == weird
            avail = await late.wait(f"{BASE}/availability")
            assert avail.retain and avail.payload == b"online"
    assert publisher.reconnects == 0 and publisher.last_error is None


async def test_home_assistant_birth_resends_discovery(broker: Mosquitto) -> None:
    publisher = MqttPublisher(settings_for(broker))
    feed = Feed()
    topic = f"homeassistant/sensor/{NODE}/system_mood/config"
    state = f"{BASE}/system/state"
    # One publisher connection delivers in order, and each pass of the publisher sends
    # discovery before state: once the state of an event is here, so is any discovery
    # that event caused.
    async with Watcher(broker, "homeassistant/sensor/#", state) as ha, Running(publisher, feed):
        feed.push(make_event("system", 0))
        await ha.wait(state, lambda m: m.json()["seq"] == 0)
        assert len(ha.matching(topic)) == 1
        feed.push(make_event("system", 1))
        await ha.wait(state, lambda m: m.json()["seq"] == 1)
        assert len(ha.matching(topic)) == 1  # sent once on first sight, not per event
        await ha.publish("homeassistant/status", "offline")
        # The broker logs our publisher's acknowledgement once the status reached it.
        await until(lambda: f"PUBACK from streamchill-{NODE}" in broker.log_text(), STEP_S,
                    "the publisher to receive Home Assistant's offline status")  # fmt: skip
        feed.push(make_event("system", 2))
        await ha.wait(state, lambda m: m.json()["seq"] == 2)
        assert len(ha.matching(topic)) == 1  # HA going offline asks for nothing
        await ha.publish("homeassistant/status", "online")
        await until(lambda: len(ha.matching(topic)) == 2, STEP_S, "discovery re-sent")


async def test_clean_stop_publishes_offline(broker: Mosquitto) -> None:
    publisher = MqttPublisher(settings_for(broker))
    async with Watcher(broker, f"{BASE}/availability") as w:
        async with Running(publisher, Feed()):
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online")
        await w.wait(f"{BASE}/availability", lambda m: m.payload == b"offline")


_CRASHER = """
import asyncio, sys
from streamchill.streamer.mqtt.publisher import MqttPublisher
from streamchill.streamer.mqtt.settings import MqttSettings

async def main():
    config = {"mqtt": {"node_id": "testnode"}}
    pub = MqttPublisher(MqttSettings.from_url(sys.argv[1], env={}, config=config))
    async def never():
        await asyncio.Future()
        yield
    task = asyncio.create_task(pub.run(never()))
    while not pub.connected:
        await asyncio.sleep(0.02)
    print("connected", flush=True)
    await task

asyncio.run(main())
"""


async def test_sigkill_makes_broker_publish_last_will(broker: Mosquitto) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, broker.url], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    try:
        async with Watcher(broker, f"{BASE}/availability") as w:
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), STEP_S)
            assert line.strip() == b"connected"
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online")
            proc.send_signal(signal.SIGKILL)
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"offline")
        async with Watcher(broker, f"{BASE}/availability") as late:
            avail = await late.wait(f"{BASE}/availability")
            assert avail.retain and avail.payload == b"offline"
    finally:
        proc.kill()
        proc.wait(timeout=STEP_S)
