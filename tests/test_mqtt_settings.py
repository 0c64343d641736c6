"""MQTT settings and what the publisher makes of events, without a broker: URL, environment
and config parsing, topic-safe stream names, Home Assistant discovery payloads, and the
bounded memory of latest states while no broker answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamchill.analyzer.events import MoodState
from streamchill.streamer.errors import ConfigError
from streamchill.streamer.mqtt.publisher import MAX_STREAMS, MqttPublisher, discovery_messages
from streamchill.streamer.mqtt.settings import MqttSettings, sanitize_id
from tests.support.mqtt import BASE, NODE, STEP_S, Feed, Running, make_event
from tests.support.waiting import until


def test_settings_parse_url_env_and_config() -> None:
    s = MqttSettings.from_url(
        "mqtts://broker.lan",
        env={"STREAMCHILL_MQTT_USERNAME": "env-user", "STREAMCHILL_MQTT_PASSWORD": "pw"},
        config={"mqtt": {"username": "file-user", "node_id": "living-room"}},
    )
    assert (s.host, s.port, s.tls) == ("broker.lan", 8883, True)
    assert s.username == "env-user" and s.password == "pw"  # environment wins over the file
    assert s.availability_topic == "streamchill/living-room/availability"
    assert "pw" not in repr(s) and "pw" not in s.redacted_url()
    # The whole config.toml is handed over: daemon keys at top level are not ours.
    whole_file = {"port": 8765, "mqtt": "mqtt://127.0.0.1:1884"}
    plain = MqttSettings.from_url("mqtt://127.0.0.1:1884", env={}, config=whole_file)
    assert (plain.port, plain.tls, plain.username) == (1884, False, None)
    assert sanitize_id(plain.node_id) == plain.node_id


@pytest.mark.parametrize(
    ("url", "config", "needle"),
    [
        ("http://host", {}, "mqtt://host"),
        ("mqtt://", {}, "no host"),
        ("mqtt://user:pw@host", {}, "not in the URL"),
        ("mqtt://host:99999", {}, "invalid MQTT URL"),
        ("mqtt://host/topic", {}, "no path"),
        ("mqtt://host", {"topic_prefix": "a/#"}, "topic_prefix"),
        ("mqtt://host", {"node_id": "has space"}, "node_id"),
        ("mqtt://host", {"backoff_min_s": 5, "backoff_max_s": 1}, "backoff_max_s"),
        ("mqtt://host", {"keepalive_s": 0}, "keepalive_s"),
        ("mqtt://host", {"password": "pw"}, "without a username"),
        ("mqtt://host", {"colour": "blue"}, "unknown key"),
    ],
)
def test_settings_reject_bad_input_clearly(url: str, config: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        MqttSettings.from_url(url, env={}, config={"mqtt": config})


def test_publisher_validates_at_once() -> None:
    with pytest.raises(TypeError):
        MqttPublisher("mqtt://host")  # type: ignore[arg-type]


def test_bad_ca_file_is_a_config_error(tmp_path: Path) -> None:
    settings = MqttSettings.from_url(
        "mqtts://host", env={}, config={"mqtt": {"tls_ca_file": str(tmp_path / "missing.pem")}}
    )
    with pytest.raises(ConfigError, match="tls_ca_file"):
        MqttPublisher(settings)


def test_stream_names_become_safe_distinct_topic_levels() -> None:
    assert sanitize_id("tab-42") == "tab-42"
    weird = [sanitize_id(n) for n in ("my tab/1", "my tab#1", "my+tab 1", "")]
    assert len(set(weird)) == len(weird)
    for key in weird:
        assert all(c.isalnum() or c in "_-" for c in key), key


def test_discovery_follows_home_assistant_conventions() -> None:
    s = MqttSettings(url="mqtt://h", node_id=NODE)
    msgs = dict(discovery_messages(s, "tab-42"))
    mood = msgs[f"homeassistant/sensor/{NODE}/tab-42_mood/config"]
    assert mood["device_class"] == "enum"
    assert set(mood["options"]) == {s.value for s in MoodState}
    assert "speech" in mood["options"]
    assert "unit_of_measurement" not in mood and "state_class" not in mood  # enum forbids them
    calm = msgs[f"homeassistant/sensor/{NODE}/tab-42_calm_probability/config"]
    assert calm["unit_of_measurement"] == "%"
    ids = {p["unique_id"] for p in msgs.values()}
    assert len(ids) == 3
    for payload in msgs.values():
        assert payload["availability_topic"] == f"{BASE}/availability"
        assert payload["state_topic"] == f"{BASE}/tab-42/state"
        assert payload["device"]["identifiers"] == [f"streamchill_{NODE}_tab-42"]


async def test_latest_state_is_bounded_while_broker_unreachable(tmp_path: Path) -> None:
    dead = MqttSettings.from_url(
        "mqtt://127.0.0.1:9", env={}, config={"mqtt": {"node_id": NODE, "backoff_max_s": 1.0}}
    )
    publisher = MqttPublisher(dead)
    feed = Feed()
    async with Running(publisher, feed):
        for i in range(MAX_STREAMS + 36):
            for seq in range(3):
                feed.push(make_event(f"tab-{i}", seq))
        await until(lambda: feed.consumed == feed.pushed, STEP_S, "feed drained")
        assert not publisher.connected
        await until(lambda: publisher.last_error is not None, STEP_S, "first failed attempt")
        assert "127.0.0.1:9" in (publisher.last_error or "")
    assert len(publisher._latest) == MAX_STREAMS
    assert f"tab-{MAX_STREAMS + 35}" in publisher._latest and "tab-0" not in publisher._latest
