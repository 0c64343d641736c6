"""MQTT publisher against a real mosquitto: retained state, HA discovery, outages, auth.

Every await has a timeout: a hung broker interaction must fail the test, not CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from websockets.asyncio.client import connect

from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures
from streamchill.streamer.errors import ConfigError
from streamchill.streamer.mqtt.publisher import MAX_STREAMS, MqttPublisher, discovery_messages
from streamchill.streamer.mqtt.settings import MqttSettings, sanitize_id
from streamchill.streamer.sources.decode import decode_file
from tests.conftest import example_path
from tests.support.daemon import RunningDaemon, recv_json, start_daemon
from tests.support.mosquitto import Mosquitto, available

REPO = Path(__file__).resolve().parents[1]
NODE = "testnode"
BASE = f"streamchill/{NODE}"
STEP_S = 10.0  # generous bound for one broker round trip on a loaded CI machine
STOP_S = 5.0  # bound for MqttPublisher.run() to end after cancel (goodbye included)

integration = pytest.mark.integration


# -- helpers ---------------------------------------------------------------------------------


def make_event(
    stream: str = "system", seq: int = 0, state: MoodState = MoodState.CALM, calm: float = 0.9
) -> MoodEvent:
    return MoodEvent(
        stream=stream,
        seq=seq,
        media_time_s=float(seq),
        window_start_s=max(0.0, seq - 30.0),
        window_end_s=float(seq),
        state=state,
        changed=seq == 0,
        warming_up=False,
        calm_probability=calm,
        speech_probability=0.01,
        features=WindowFeatures(danceability=1.1, bpm=72.4, avg_db_deviation=2.0, loudness_db=-20),
        model_version="test",
    )


class Feed:
    """An event source like the hub's subscription; counts what the publisher consumed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[MoodEvent] = asyncio.Queue()
        self.pushed = 0
        self.consumed = 0

    def push(self, event: MoodEvent) -> None:
        self.pushed += 1
        self.queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[MoodEvent]:
        return self

    async def __anext__(self) -> MoodEvent:
        event = await self.queue.get()
        self.consumed += 1
        return event


@dataclass
class Seen:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A subscriber client that records everything under the given filters."""

    def __init__(self, broker: Mosquitto, *filters: str) -> None:
        self.broker = broker
        self.filters = filters or ("#",)
        self.seen: list[Seen] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), STEP_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait_for(asyncio.gather(self._task, return_exceptions=True), STEP_S)

    async def _run(self) -> None:
        async with aiomqtt.Client(self.broker.host, self.broker.port, timeout=STEP_S) as client:
            self.client = client
            for f in self.filters:
                await client.subscribe(f, qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = message.payload
                raw = payload if isinstance(payload, bytes) else str(payload).encode()
                self.seen.append(Seen(message.topic.value, raw, message.retain))

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        assert self.client is not None
        await asyncio.wait_for(self.client.publish(topic, payload, qos=1, retain=retain), STEP_S)

    def matching(self, topic: str, pred: Callable[[Seen], bool] = lambda s: True) -> list[Seen]:
        return [s for s in self.seen if s.topic == topic and pred(s)]

    async def wait(
        self, topic: str, pred: Callable[[Seen], bool] = lambda s: True, *, timeout: float = STEP_S
    ) -> Seen:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(topic, pred)
            if found:
                return found[-1]
            await asyncio.sleep(0.02)
        topics = sorted({s.topic for s in self.seen})
        raise AssertionError(f"nothing on {topic!r} within {timeout} s; saw topics {topics}")


async def until(cond: Callable[[], bool], timeout: float = STEP_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def until_quiet(w: Watcher, topic: str, quiet_s: float = 2.0, timeout: float = 60) -> None:
    """Wait until nothing new arrived on ``topic`` for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() - since < quiet_s:
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic} never went quiet within {timeout} s")
        if len(w.matching(topic)) != count:
            count, since = len(w.matching(topic)), time.monotonic()
        await asyncio.sleep(0.05)


def settings_for(broker: Mosquitto, **config: Any) -> MqttSettings:
    base: dict[str, Any] = {"node_id": NODE, "backoff_min_s": 0.2, "backoff_max_s": 2.0}
    return MqttSettings.from_url(broker.url, env={}, config={"mqtt": {**base, **config}})


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if not available():
        pytest.fail("mosquitto is not installed: apt-get install mosquitto mosquitto-clients")
    with Mosquitto(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if not available():
        pytest.fail("mosquitto is not installed: apt-get install mosquitto mosquitto-clients")
    with Mosquitto(tmp_path / "auth-broker", users={"chill": "s3cret"}) as b:
        yield b


class Running:
    """Runs ``publisher.run(feed)`` as a task; cancels it (and checks it ended) on exit."""

    def __init__(self, publisher: MqttPublisher, feed: Feed) -> None:
        self.publisher = publisher
        self.feed = feed
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.publisher.run(self.feed))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        # Shorter than aiomqtt's 10 s operation timeout: stopping must be prompt even when
        # the cancellation lands mid-publish (a swallowed cancel used to hang 10 s here).
        await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), STOP_S)


# -- settings (no broker) --------------------------------------------------------------------


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
        await until(lambda: feed.consumed == feed.pushed, what="feed drained")
        assert not publisher.connected
        await until(lambda: publisher.last_error is not None, what="first failed attempt")
        assert "127.0.0.1:9" in (publisher.last_error or "")
    assert len(publisher._latest) == MAX_STREAMS
    assert f"tab-{MAX_STREAMS + 35}" in publisher._latest and "tab-0" not in publisher._latest


# -- against a real broker -------------------------------------------------------------------


@integration
async def test_retained_state_and_discovery(broker: Mosquitto) -> None:
    publisher = MqttPublisher(settings_for(broker))
    feed = Feed()
    weird = "My tab/#2"
    key = sanitize_id(weird)
    async with (
        Watcher(broker, "homeassistant/#", f"{BASE}/+/event") as live,
        Running(publisher, feed),
    ):
        await until(lambda: publisher.connected, what="connect")
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


@integration
async def test_home_assistant_birth_resends_discovery(broker: Mosquitto) -> None:
    publisher = MqttPublisher(settings_for(broker))
    feed = Feed()
    topic = f"homeassistant/sensor/{NODE}/system_mood/config"
    async with Watcher(broker, "homeassistant/sensor/#") as ha, Running(publisher, feed):
        feed.push(make_event("system", 0))
        await ha.wait(topic)
        await asyncio.sleep(0.3)
        assert len(ha.matching(topic)) == 1  # sent once on first sight, not per event
        feed.push(make_event("system", 1))
        await ha.publish("homeassistant/status", "offline")
        await asyncio.sleep(0.3)
        assert len(ha.matching(topic)) == 1
        await ha.publish("homeassistant/status", "online")
        await until(lambda: len(ha.matching(topic)) == 2, what="discovery re-sent")


@integration
async def test_broker_restart_reconnects_republishes_and_never_blocks_feed(
    broker: Mosquitto,
) -> None:
    settings = settings_for(broker, backoff_min_s=0.5, backoff_max_s=3.0)
    stats: dict[str, int] = {}
    publisher = MqttPublisher(settings, stats=stats)
    feed = Feed()
    async with Running(publisher, feed):
        await until(lambda: publisher.connected, what="first connect")
        feed.push(make_event("system", 0))
        async with Watcher(broker, f"{BASE}/system/state") as w:
            await w.wait(f"{BASE}/system/state")

        broker.stop()  # SIGKILL: the broker forgets everything (persistence false)
        await until(lambda: not publisher.connected, what="disconnect noticed")
        outage_start = time.monotonic()
        # The feed keeps flowing at hop rate and is consumed at once during the outage.
        for seq in range(1, 40):
            feed.push(make_event("system", seq, MoodState.NEUTRAL, 0.5))
            feed.push(make_event("tab-7", seq, MoodState.AGGRESSIVE, 0.1))
            await until(lambda: feed.consumed == feed.pushed, timeout=1.0, what="consumption")
            await asyncio.sleep(0.05)
        assert not publisher.connected
        assert publisher.last_error is not None
        while time.monotonic() - outage_start < settings.backoff_max_s + 1:
            await asyncio.sleep(0.1)  # long enough for the backoff to reach its cap

        broker.start()
        restarted = time.monotonic()
        async with Watcher(broker, f"{BASE}/#", "homeassistant/#") as w:
            budget = settings.backoff_max_s + 5
            sys_state = await w.wait(
                f"{BASE}/system/state", lambda m: m.json()["seq"] == 39, timeout=budget
            )
            assert sys_state.json()["state"] == "neutral"
            await w.wait(f"{BASE}/tab-7/state", lambda m: m.json()["seq"] == 39, timeout=STEP_S)
            await w.wait(f"homeassistant/sensor/{NODE}/tab-7_mood/config", timeout=STEP_S)
            await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online", timeout=STEP_S)
            assert time.monotonic() - restarted < budget
            # Events from during the outage are not replayed as live news.
            assert not w.matching(f"{BASE}/system/event")
            feed.push(make_event("system", 40))
            await w.wait(f"{BASE}/system/event", lambda m: m.json()["seq"] == 40)
    assert publisher.reconnects == 1 and stats["mqtt_reconnects"] == 1
    assert publisher.last_error is None


@integration
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


@integration
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


@integration
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
        await until(lambda: publisher.last_error is not None, what="auth failure")
        for seq in range(20):
            feed.push(make_event("system", seq))
        await asyncio.sleep(3.0)  # several normal backoff caps: a hot loop would show here
        assert feed.consumed == feed.pushed
        assert not publisher.connected
        assert publisher.connect_attempts == 1
        assert auth_broker.log_text().count("Sending CONNACK") == 1
        err = publisher.last_error
        assert err is not None
        assert "refused our credentials" in err and "STREAMCHILL_MQTT_PASSWORD" in err
        assert "s3cret" not in err and "wrong" not in err


@integration
async def test_tls_broker_with_private_ca(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "tls-broker", tls=True) as broker:
        assert broker.url.startswith("mqtts://")
        trusting = settings_for(broker, tls_ca_file=str(broker.ca_path))
        publisher = MqttPublisher(trusting)
        async with Running(publisher, Feed()):
            await until(lambda: publisher.connected, what="TLS connect")
        # Without our CA the system store must reject the self-signed certificate.
        doubting = MqttPublisher(settings_for(broker))
        async with Running(doubting, Feed()):
            await until(lambda: doubting.last_error is not None, what="TLS refusal")
            assert not doubting.connected
        assert "certificate" in (doubting.last_error or "").lower()


@integration
async def test_credentials_from_environment_log_in(auth_broker: Mosquitto) -> None:
    settings = MqttSettings.from_url(
        auth_broker.url,
        env={"STREAMCHILL_MQTT_USERNAME": "chill", "STREAMCHILL_MQTT_PASSWORD": "s3cret"},
        config={"mqtt": {"node_id": NODE}},
    )
    publisher = MqttPublisher(settings)
    async with Running(publisher, Feed()):
        await until(lambda: publisher.connected, what="authenticated connect")
    assert publisher.last_error is None


# -- with the real daemon --------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    pcm: bytes
    """Interleaved float32 little-endian samples, as the extension sends them."""
    sample_rate_hz: int
    channels: int

    @property
    def frame_bytes(self) -> int:
        """Bytes in 100 ms of audio."""
        return self.sample_rate_hz // 10 * self.channels * 4


def example_clip(kind: str = "calm", repeat: int = 1) -> Clip:
    """A shipped example (``models/examples/<kind>-*.ogg``), decoded, looped ``repeat`` times."""
    import numpy as np

    audio = decode_file(example_path(kind))
    samples = np.tile(audio.samples, (repeat, 1)).astype("<f4")
    return Clip(samples.tobytes(), audio.sample_rate_hz, audio.channels)


def start_mqtt_daemon(workdir: Path, broker: Mosquitto) -> RunningDaemon:
    config_dir = workdir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(
        f'[mqtt]\nnode_id = "{NODE}"\nbackoff_min_s = 0.5\nbackoff_max_s = 3\n'
    )
    clean_env = {"STREAMCHILL_MQTT_USERNAME": "", "STREAMCHILL_MQTT_PASSWORD": ""}
    return start_daemon(workdir, "--mqtt", broker.url, env=clean_env)


async def stream_audio(d: RunningDaemon, stream: str, clip: Clip, *, speed: float = 0.0) -> None:
    """Send ``clip`` to ``/v1/audio`` in 100 ms frames, then ``bye``; ``speed`` > 0 paces
    it at that multiple of real time (0: as fast as the socket takes it)."""
    async with connect(d.ws_url("/v1/audio"), additional_headers=d.auth) as ws:
        hello = {"type": "hello", "v": 1, "stream": stream, "sample_rate_hz": clip.sample_rate_hz,
                 "channels": clip.channels, "sample_format": "f32le"}  # fmt: skip
        await asyncio.wait_for(ws.send(json.dumps(hello)), STEP_S)
        assert (await recv_json(ws))["type"] == "ready"
        step = clip.frame_bytes
        for i in range(0, len(clip.pcm), step):
            await asyncio.wait_for(ws.send(clip.pcm[i : i + step]), STEP_S)
            if speed:
                await asyncio.sleep(0.1 / speed)
        await asyncio.wait_for(ws.send(json.dumps({"type": "bye"})), STEP_S)


@integration
@pytest.mark.slow
async def test_daemon_streamed_clip_gives_retained_state_and_discovery(
    broker: Mosquitto, tmp_path: Path
) -> None:
    d = start_mqtt_daemon(tmp_path, broker)
    try:
        async with Watcher(broker, "homeassistant/#", f"{BASE}/#") as w:
            await stream_audio(d, "tab-1", example_clip("calm"), speed=1.5)
            conf = await w.wait(f"homeassistant/sensor/{NODE}/tab-1_mood/config", timeout=60)
            assert "speech" in conf.json()["options"]
            await w.wait(f"{BASE}/tab-1/event", timeout=60)
            await until_quiet(w, f"{BASE}/tab-1/event")  # analysis of the clip finished
            last = w.matching(f"{BASE}/tab-1/event")[-1].json()
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


@integration
@pytest.mark.slow
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


@integration
@pytest.mark.slow
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
            await until(lambda: len(received) >= 2, timeout=60, what="first events")
            broker.stop()
            down_at = time.monotonic()
            await asyncio.sleep(4.0)
            during = [m for t, m in received if t > down_at]
            assert len(during) >= 2, "WebSocket events stopped while the broker was down"
            assert d.alive()
            broker.start()
            up_at = time.monotonic()
            async with Watcher(broker, f"{BASE}/#", "homeassistant/#") as w:
                budget = backoff_max_s + 5
                await w.wait(f"{BASE}/tab-9/state", timeout=budget)
                await w.wait(f"homeassistant/sensor/{NODE}/tab-9_mood/config", timeout=STEP_S)
                await w.wait(f"{BASE}/availability", lambda m: m.payload == b"online")
                assert time.monotonic() - up_at < budget + 1
                n = len(received)
                await until(lambda: len(received) > n, timeout=30, what="events after restart")
            assert d.stats()["mqtt_reconnects"] >= 1
        finally:
            for task in (feeder, sub):
                task.cancel()
            await asyncio.wait_for(asyncio.gather(feeder, sub, return_exceptions=True), STEP_S)
    finally:
        assert d.stop() == 0, d.log()
