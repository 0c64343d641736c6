"""The MQTT publisher when the broker is not there for it: killed and restarted, refusing
our credentials, or serving TLS with a certificate we must (or must not) trust. The rule:
the feed is never held up, errors say what to fix, and retries are neither lost nor hot.

Every await has a timeout: a hung broker interaction must fail the test, not CI.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from streamchill.analyzer.events import MoodState
from streamchill.streamer.mqtt.publisher import MqttPublisher
from streamchill.streamer.mqtt.settings import MqttSettings
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import (
    BASE,
    NODE,
    STEP_S,
    Feed,
    Running,
    Watcher,
    auth_broker,
    broker,
    make_event,
    settings_for,
)
from tests.support.waiting import until

pytestmark = pytest.mark.integration
__all__ = ["auth_broker", "broker"]


async def test_broker_restart_reconnects_republishes_and_never_blocks_feed(
    broker: Mosquitto,
) -> None:
    settings = settings_for(broker, backoff_min_s=0.5, backoff_max_s=3.0)
    stats: dict[str, int] = {}
    publisher = MqttPublisher(settings, stats=stats)
    feed = Feed()
    async with Running(publisher, feed):
        await until(lambda: publisher.connected, STEP_S, "first connect")
        feed.push(make_event("system", 0))
        async with Watcher(broker, f"{BASE}/system/state") as w:
            await w.wait(f"{BASE}/system/state")

        broker.stop()  # SIGKILL: the broker forgets everything (persistence false)
        await until(lambda: not publisher.connected, STEP_S, "disconnect noticed")
        # The feed keeps flowing and is consumed at once during the outage. The pause
        # between events is the behaviour: a feed spread over the reconnect attempts,
        # as the hub's is (one event per hop), not one burst before the first of them.
        for seq in range(1, 40):
            feed.push(make_event("system", seq, MoodState.NEUTRAL, 0.5))
            feed.push(make_event("tab-7", seq, MoodState.AGGRESSIVE, 0.1))
            await until(lambda: feed.consumed == feed.pushed, 1.0, "consumption")
            await asyncio.sleep(0.05)
        assert not publisher.connected
        assert publisher.last_error is not None
        # Restart only once the backoff has reached its cap (delays capped at 0.5, 1, 2,
        # then 3 s: the fourth failure), so the reconnect budget below is the worst case.
        await until(lambda: publisher._failures >= 4, 3 * STEP_S, "the backoff to reach its cap")

        mark = broker.log_mark()
        broker.start()
        restarted = time.monotonic()
        async with Watcher(broker, f"{BASE}/#", "homeassistant/#") as w:
            budget = settings.backoff_max_s + 5
            sys_state = await w.wait(
                f"{BASE}/system/state", lambda m: m.json()["seq"] == 39, timeout=budget
            )
            assert sys_state.json()["state"] == "neutral"
            await w.wait(f"{BASE}/tab-7/state", lambda m: m.json()["seq"] == 39, timeout=STEP_S)
            # Discovery is not retained, and the publisher may reconnect before this
            # watcher subscribes: ask the broker what it received instead.
            # tab-7 first appeared during the outage; system was announced before it, and
            # the restarted broker (persistence false) must hear of it again.
            for stream in ("tab-7", "system"):
                discovery = f"homeassistant/sensor/{NODE}/{stream}_mood/config"
                await until(lambda t=discovery: t in broker.received_topics(mark), STEP_S,
                            f"{stream}'s discovery sent to the restarted broker")  # fmt: skip
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online", timeout=STEP_S)
            assert time.monotonic() - restarted < budget
            # Events from during the outage are not replayed as live news.
            assert not w.matching(f"{BASE}/system/event")
            feed.push(make_event("system", 40))
            await w.wait(f"{BASE}/system/event", lambda m: m.json()["seq"] == 40)
    assert publisher.reconnects == 1 and stats["mqtt_reconnects"] == 1
    assert publisher.last_error is None


@pytest.mark.parametrize("password", ["wrong", None])
async def test_bad_credentials_clear_error_and_no_hot_loop(
    auth_broker: Mosquitto, password: str | None
) -> None:
    config: dict[str, Any] = {"username": "chill", "auth_backoff_s": 60.0}
    if password is None:
        config = {"auth_backoff_s": 60.0}  # anonymous against a broker that wants a login
    else:
        config["password"] = password
    publisher = MqttPublisher(settings_for(auth_broker, backoff_max_s=0.5, **config))
    feed = Feed()
    async with Running(publisher, feed):
        await until(lambda: publisher.last_error is not None, STEP_S, "auth failure")
        for seq in range(20):
            feed.push(make_event("system", seq))
        # The wait is the behaviour under test: for six normal backoff caps nothing may
        # happen (no second attempt); a hot loop would show here. No condition to wait on.
        await asyncio.sleep(3.0)
        assert feed.consumed == feed.pushed
        assert not publisher.connected
        assert publisher.connect_attempts == 1
        assert auth_broker.log_text().count("Sending CONNACK") == 1
        err = publisher.last_error
        assert err is not None
        assert "refused our credentials" in err and "STREAMCHILL_MQTT_PASSWORD" in err
        assert "s3cret" not in err and "wrong" not in err


async def test_tls_broker_with_private_ca(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "tls-broker", tls=True) as broker:
        assert broker.url.startswith("mqtts://")
        trusting = settings_for(broker, tls_ca_file=str(broker.ca_path))
        publisher = MqttPublisher(trusting)
        async with Running(publisher, Feed()):
            await until(lambda: publisher.connected, STEP_S, "TLS connect")
        # Without our CA the system store must reject the self-signed certificate.
        doubting = MqttPublisher(settings_for(broker))
        async with Running(doubting, Feed()):
            await until(lambda: doubting.last_error is not None, STEP_S, "TLS refusal")
            assert not doubting.connected
        assert "certificate" in (doubting.last_error or "").lower()


async def test_credentials_from_environment_log_in(auth_broker: Mosquitto) -> None:
    settings = MqttSettings.from_url(
        auth_broker.url,
        env={"STREAMCHILL_MQTT_USERNAME": "chill", "STREAMCHILL_MQTT_PASSWORD": "s3cret"},
        config={"mqtt": {"node_id": NODE}},
    )
    publisher = MqttPublisher(settings)
    async with Running(publisher, Feed()):
        await until(lambda: publisher.connected, STEP_S, "authenticated connect")
    assert publisher.last_error is None
