"""MQTT publisher: mood events onto the home's message bus, with Home Assistant discovery.

The broker is never on the critical path. :meth:`MqttPublisher.run` drains its event
iterator without ever awaiting the broker (remembering only the latest state per stream,
bounded), while a separate connection loop (re)connects with jittered exponential backoff
and publishes whatever is newest. A dead broker therefore costs memory for at most
:data:`MAX_STREAMS` events, never a stalled hub or a slow WebSocket subscriber.

Topics (``B`` = ``<topic_prefix>/<node_id>``, ``S`` = the stream name made topic-safe):

- ``B/availability``: ``online`` (retained) on every connect; ``offline`` (retained) as
  last will and on clean shutdown.
- ``B/S/state``: retained JSON ``{state, calm_probability, bpm, danceability,
  media_time_s, updated_at, ...}``, the latest state of stream S.
- ``B/S/event``: every mood event, not retained (``MoodEvent.to_dict()``).
- ``<discovery_prefix>/sensor/<node_id>/S_<what>/config``: Home Assistant discovery,
  not retained (so ended streams vanish after an HA restart); re-sent whenever HA
  publishes ``online`` on ``<discovery_prefix>/status`` and on every reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from streamchill.analyzer.events import MoodEvent, MoodState
from streamchill.streamer.errors import ConfigError
from streamchill.streamer.mqtt.settings import MqttSettings, sanitize_id

__all__ = ["MAX_STREAMS", "MqttPublisher", "MqttSettings", "discovery_messages", "state_payload"]

log = logging.getLogger(__name__)

MAX_STREAMS = 64
"""Streams whose latest state we remember; the least recently updated is forgotten first."""
OUTBOX_MAX = 256
"""Non-retained events waiting for the broker while connected; older ones are dropped."""
CONNECT_TIMEOUT_S = 10.0
"""How long one connect (TCP + CONNACK) or QoS 1 publish may take before we give up."""
CANCEL_RETRY_S = 0.2
"""How long to wait for a cancelled task before cancelling it again (see _cancel_all)."""
GOODBYE_TIMEOUT_S = 2.0
"""Time allowed to publish ``offline`` on shutdown: never hold the daemon's exit hostage."""

# CONNACK codes meaning "your credentials are wrong": MQTT 3.1.1 (4, 5) and 5.0 (134, 135).
_AUTH_CODES = frozenset({4, 5, 134, 135})

_SW = "streamchill"


def _sw_version() -> str:
    try:
        from importlib.metadata import version

        return version("streamchill")
    except Exception:  # not installed (running from a checkout): discovery still works
        return "0"


def state_payload(event: MoodEvent, updated_at: datetime) -> dict[str, Any]:
    """The retained per-stream state: what an automation needs, small and flat."""
    data = event.to_dict()
    return {
        "stream": event.stream,
        "state": data["state"],
        "calm_probability": data["calm_probability"],
        "speech_probability": data["speech_probability"],
        "bpm": round(data["features"]["bpm"], 1),
        "danceability": round(data["features"]["danceability"], 3),
        "media_time_s": data["media_time_s"],
        "seq": event.seq,
        "updated_at": updated_at.isoformat(timespec="milliseconds"),
    }


def discovery_messages(
    settings: MqttSettings, stream: str, *, sw_version: str = "0"
) -> list[tuple[str, dict[str, Any]]]:
    """Home Assistant discovery configs (topic, payload) for one stream's sensors.

    One HA device per stream (``Stream & Chill <stream> (<node>)``) so automations read
    naturally (``sensor.stream_chill_system_myhost_mood``) and an ended tab's entities
    can be removed as one device. Every sensor reads the same retained state topic
    through a value template, and the mood sensor carries the whole state as attributes.
    """
    key = sanitize_id(stream)
    node = settings.node_id
    state_topic = f"{settings.base_topic}/{key}/state"
    device = {
        "identifiers": [f"streamchill_{node}_{key}"],
        "name": f"Stream & Chill {stream} ({node})",
        "manufacturer": "Stream & Chill",
        "model": "music mood analyzer",
        "sw_version": sw_version,
    }
    common = {
        "state_topic": state_topic,
        "availability_topic": settings.availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
        "origin": {"name": _SW, "sw_version": sw_version},
    }
    sensors: dict[str, dict[str, Any]] = {
        "mood": {
            "name": "Mood",
            "device_class": "enum",
            "options": [s.value for s in MoodState],
            "value_template": "{{ value_json.state }}",
            "json_attributes_topic": state_topic,
            "icon": "mdi:music-circle",
        },
        "calm_probability": {
            "name": "Calm probability",
            "unit_of_measurement": "%",
            "state_class": "measurement",
            # null where calm is not judged (silence, speech, tones): HA shows "unknown".
            "value_template": "{{ (value_json.calm_probability * 100) | round(1)"
            " if value_json.calm_probability is number else none }}",
            "icon": "mdi:meditation",
        },
        "bpm": {
            "name": "BPM",
            "unit_of_measurement": "BPM",
            "state_class": "measurement",
            "value_template": "{{ value_json.bpm | round(0) }}",
            "icon": "mdi:metronome",
        },
    }
    out = []
    for what, specific in sensors.items():
        object_id = f"{key}_{what}"
        payload = {**specific, **common, "unique_id": f"streamchill_{node}_{object_id}"}
        out.append((f"{settings.discovery_prefix}/sensor/{node}/{object_id}/config", payload))
    return out


def _is_auth_failure(exc: BaseException) -> bool:
    rc = getattr(exc, "rc", None)
    value = rc.value if isinstance(rc, ReasonCode) else rc
    return isinstance(exc, aiomqtt.MqttCodeError) and value in _AUTH_CODES


class MqttPublisher:
    """Publishes mood events to one broker, reconnecting forever, never blocking its feed.

    The daemon owns one and runs :meth:`run` as a task fed by an event-hub subscription;
    cancelling that task is the way to stop it (``offline`` is published on the way out).
    """

    reconnects: int
    """Successful connections after the first one (exposed as ``mqtt_reconnects``)."""
    connect_attempts: int
    """Every connection attempt, failed or not: lets tests and operators spot hot loops."""
    last_error: str | None
    """Why the last connection attempt failed or was lost; ``None`` while connected."""

    def __init__(self, settings: MqttSettings, *, stats: object | None = None) -> None:
        if not isinstance(settings, MqttSettings):
            raise TypeError(f"settings must be MqttSettings, not {type(settings).__name__}")
        self.settings = settings
        self._stats = stats
        self._sw_version = _sw_version()
        self._tls: ssl.SSLContext | None = None
        if settings.tls:
            # Built now, not per attempt: a bad CA file is a config error to report at start.
            try:
                self._tls = ssl.create_default_context(cafile=settings.tls_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"MQTT tls_ca_file {settings.tls_ca_file!r}: {exc}") from None
        # stream -> (latest event, when we received it); bounded by MAX_STREAMS.
        self._latest: OrderedDict[str, tuple[MoodEvent, datetime]] = OrderedDict()
        self._dirty: set[str] = set()  # streams whose retained state is not on the broker yet
        self._announced: set[str] = set()  # streams whose discovery went out on this connection
        self._outbox: deque[MoodEvent] = deque(maxlen=OUTBOX_MAX)
        self._wake = asyncio.Event()
        self._rediscover = False
        self._connected = False
        self._ever_connected = False
        self._failures = 0
        self.reconnects = 0
        self.connect_attempts = 0
        self.events_in = 0
        self.events_dropped = 0
        self.last_error = None

    @property
    def connected(self) -> bool:
        """True while a broker session is up (CONNACK accepted and not lost since)."""
        return self._connected

    async def run(self, events: AsyncIterator[MoodEvent]) -> None:
        """Consume ``events`` and keep the broker up to date until cancelled.

        Broker trouble is logged and retried, never raised; an exception from ``events``
        itself propagates. If ``events`` ends, the last states stay published and the
        connection is kept (HA may still ask for discovery) until the task is cancelled.
        """
        consumer = asyncio.create_task(self._consume(events), name="mqtt-consume")
        connection = asyncio.create_task(self._connection_loop(), name="mqtt-connection")
        try:
            await _first_failure(consumer, connection)
        finally:
            await _cancel_all((consumer, connection))

    # -- feeding side: synchronous, so the hub subscription is never held up ---------------

    async def _consume(self, events: AsyncIterator[MoodEvent]) -> None:
        async for event in events:
            # A hub subscription may also carry stream start/end records; only mood
            # events have a state to publish.
            if isinstance(event, MoodEvent):
                self._remember(event)
        await asyncio.Future()  # the feed ended: keep the connection until cancelled

    def _remember(self, event: MoodEvent) -> None:
        self.events_in += 1
        stream = event.stream
        self._latest[stream] = (event, datetime.now(UTC))
        self._latest.move_to_end(stream)
        while len(self._latest) > MAX_STREAMS:
            gone, _ = self._latest.popitem(last=False)
            self._dirty.discard(gone)
            self._announced.discard(gone)
        self._dirty.add(stream)
        if self._connected:
            if len(self._outbox) == self._outbox.maxlen:
                self.events_dropped += 1
            self._outbox.append(event)
        self._wake.set()

    # -- broker side ----------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        while True:
            self.connect_attempts += 1
            try:
                await self._session()
                delay = self._next_delay()  # session ended without error: broker closed it
            except aiomqtt.MqttError as exc:
                self._connected = False
                if _is_auth_failure(exc):
                    delay = self.settings.auth_backoff_s
                    self.last_error = (
                        f"MQTT broker {self.settings.redacted_url()} refused our credentials "
                        f"({exc}); set username/password in the config file [mqtt] section or "
                        "STREAMCHILL_MQTT_USERNAME / STREAMCHILL_MQTT_PASSWORD"
                    )
                    log.error("%s; retrying in %.0f s", self.last_error, delay)
                else:
                    delay = self._next_delay()
                    self.last_error = f"MQTT broker {self.settings.redacted_url()}: {exc}"
                    log.warning("%s; retrying in %.1f s", self.last_error, delay)
            except Exception as exc:  # never let broker trouble kill the daemon's task
                self._connected = False
                delay = self._next_delay()
                self.last_error = f"MQTT broker {self.settings.redacted_url()}: {exc!r}"
                log.warning("%s; retrying in %.1f s", self.last_error, delay, exc_info=True)
            await asyncio.sleep(delay)

    def _next_delay(self) -> float:
        """Full-range jittered exponential backoff, so many daemons don't reconnect in step."""
        s = self.settings
        cap = min(s.backoff_max_s, s.backoff_min_s * 2 ** min(self._failures, 30))
        self._failures += 1
        return random.uniform(cap / 2, cap)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            # Stable id: a restarted daemon takes over its old session, so a stale will
            # fires before (not after) the new ``online``.
            identifier=f"streamchill-{s.node_id}",
            will=aiomqtt.Will(s.availability_topic, "offline", qos=1, retain=True),
            keepalive=s.keepalive_s,
            timeout=CONNECT_TIMEOUT_S,
            tls_context=self._tls,
            max_queued_outgoing_messages=OUTBOX_MAX,
        )

    async def _session(self) -> None:
        s = self.settings
        async with self._client() as client:
            self._connected = True
            self._failures = 0
            self.last_error = None
            if self._ever_connected:
                self.reconnects += 1
                self._update_stats()
            self._ever_connected = True
            log.info("MQTT connected to %s as node %r", s.redacted_url(), s.node_id)
            try:
                self._outbox.clear()  # events from before the outage are history, not news
                self._announced.clear()
                self._dirty.update(self._latest)
                await client.publish(s.availability_topic, "online", qos=1, retain=True)
                await client.subscribe(s.ha_status_topic, qos=1)
                self._wake.set()
                await _first_failure(
                    asyncio.create_task(self._listen(client), name="mqtt-listen"),
                    asyncio.create_task(self._pump(client), name="mqtt-pump"),
                )
            except asyncio.CancelledError:
                await self._goodbye(client)
                raise
            finally:
                self._connected = False

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.topic.matches(self.settings.ha_status_topic) and message.payload in (
                b"online",
                "online",
            ):
                log.info("Home Assistant came online: re-sending discovery")
                self._rediscover = True
                self._wake.set()
        raise aiomqtt.MqttError("message stream ended")

    async def _pump(self, client: aiomqtt.Client) -> None:
        s = self.settings
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._rediscover:
                self._rediscover = False
                self._announced.clear()
            for stream in list(self._latest):
                if stream not in self._announced:
                    self._announced.add(stream)
                    for topic, config in discovery_messages(s, stream, sw_version=self._sw_version):
                        await client.publish(topic, json.dumps(config), qos=1)
            while self._outbox:
                event = self._outbox.popleft()
                topic = f"{s.base_topic}/{sanitize_id(event.stream)}/event"
                await client.publish(topic, event.to_json(), qos=0)
            while self._dirty:
                stream = self._dirty.pop()
                if stream not in self._latest:
                    continue
                event, received = self._latest[stream]
                payload = json.dumps(state_payload(event, received), separators=(",", ":"))
                topic = f"{s.base_topic}/{sanitize_id(stream)}/state"
                await client.publish(topic, payload, qos=1, retain=True)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """Say ``offline`` ourselves on a clean stop: a graceful disconnect skips the will."""
        try:
            await asyncio.wait_for(
                client.publish(self.settings.availability_topic, "offline", qos=1, retain=True),
                GOODBYE_TIMEOUT_S,
            )
        except (aiomqtt.MqttError, TimeoutError):
            log.debug("could not publish offline on shutdown", exc_info=True)

    def _update_stats(self) -> None:
        # The daemon may hand us its stats object (attribute or dict style); it also reads
        # ``reconnects`` directly, so this is a convenience, not the contract.
        if self._stats is None:
            return
        if isinstance(self._stats, dict):
            self._stats["mqtt_reconnects"] = self.reconnects
        elif hasattr(self._stats, "mqtt_reconnects"):
            self._stats.mqtt_reconnects = self.reconnects


async def _first_failure(*tasks: asyncio.Task[Any]) -> None:
    """Wait until one task ends, cancel the rest, and re-raise the ended task's error.

    A tiny TaskGroup that re-raises the bare exception (not an ExceptionGroup), so the
    reconnect loop can tell an auth failure from a lost connection with plain ``except``.
    """
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await _cancel_all(tasks)
        raise
    await _cancel_all(pending)
    for task in done:
        task.result()


async def _cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until they have ended, cancelling again if needed.

    Python 3.11's ``asyncio.wait_for`` (used by aiomqtt for every QoS 1 publish) swallows
    a cancellation that arrives just as its inner future completes (CPython gh-86296);
    one ``cancel()`` then leaves the task running, and shutdown would hang until the next
    timeout. Re-cancelling until the task is really done makes stopping prompt.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_RETRY_S)
