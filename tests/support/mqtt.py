"""MQTT test kit: a watching subscriber, an event feed, a publisher run as a task, brokers.

Shared by the ``test_mqtt_*.py`` modules. Import the broker fixtures into a test module with
``from tests.support.mqtt import broker``; every await here has a timeout, so a hung broker
interaction fails the test, not CI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from websockets.asyncio.client import connect

from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures
from streamchill.streamer.mqtt.publisher import MqttPublisher
from streamchill.streamer.mqtt.settings import MqttSettings
from streamchill.streamer.sources.decode import decode_file
from tests.conftest import example_path
from tests.support.daemon import RunningDaemon, recv_json, start_daemon
from tests.support.mosquitto import Mosquitto, available
from tests.support.waiting import WaitTimeout, until

NODE = "testnode"
BASE = f"streamchill/{NODE}"
STEP_S = 10.0  # generous bound for one broker round trip on a loaded CI machine
STOP_S = 5.0  # bound for MqttPublisher.run() to end after cancel (goodbye included)


# -- events in -------------------------------------------------------------------------------


def make_event(
    stream: str = "system", seq: int = 0, state: MoodState = MoodState.CALM, calm: float = 0.9
) -> MoodEvent:
    """A mood event as the analyzer makes them (one per hop; ``seq`` doubles as media time)."""
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
    """One message a :class:`Watcher` received."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)


# -- what the broker hands out -------------------------------------------------------------


class Watcher:
    """A subscriber client that records everything under the given filters."""

    def __init__(
        self, broker: Mosquitto, *filters: str, client_id: str | None = None, v5: bool = False
    ) -> None:
        """``client_id`` and ``v5`` (MQTT 5) for clients that must be told apart by the
        broker, such as members of a shared subscription."""
        self.broker = broker
        self.filters = filters or ("#",)
        self._client_args: dict[str, Any] = {"identifier": client_id} if client_id else {}
        if v5:
            self._client_args["protocol"] = aiomqtt.ProtocolVersion.V5
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
        async with aiomqtt.Client(
            self.broker.host, self.broker.port, timeout=STEP_S, **self._client_args
        ) as client:
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
        """The latest message on ``topic`` that satisfies ``pred``, once one has arrived."""
        try:
            found = await until(
                lambda: self.matching(topic, pred), timeout, f"a match on {topic!r}"
            )
        except WaitTimeout as exc:
            topics = sorted({s.topic for s in self.seen})
            raise WaitTimeout(f"{exc}; saw topics {topics}") from None
        return found[-1]


def settings_for(broker: Mosquitto, **config: Any) -> MqttSettings:
    """Settings for ``broker`` with short backoffs (tests wait seconds, not minutes)."""
    base: dict[str, Any] = {"node_id": NODE, "backoff_min_s": 0.2, "backoff_max_s": 2.0}
    return MqttSettings.from_url(broker.url, env={}, config={"mqtt": {**base, **config}})


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh anonymous mosquitto for one test."""
    if not available():
        pytest.fail("mosquitto is not installed: apt-get install mosquitto mosquitto-clients")
    with Mosquitto(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh mosquitto that only lets ``chill`` / ``s3cret`` in."""
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
    """A real daemon publishing to ``broker`` (short backoffs; credentials from no one)."""
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
                # Pacing is the behaviour here: a live daemon drops audio sent faster
                # than it can analyse, and a paced clip is what a real tab sends.
                await asyncio.sleep(0.1 / speed)
        await asyncio.wait_for(ws.send(json.dumps({"type": "bye"})), STEP_S)
