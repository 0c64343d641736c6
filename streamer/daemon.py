"""The daemon: one hub, one server, optional system capture and MQTT, wired together.

Everything here is plumbing; each part lives in its own module and is tested there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from streamchill.analyzer.events import MoodEvent
from streamchill.streamer.config import Settings, read_config_file
from streamchill.streamer.errors import ConfigError, SubscriberDropped
from streamchill.streamer.server.app import DaemonServer
from streamchill.streamer.server.auth import load_or_create_token
from streamchill.streamer.server.hub import EventHub
from streamchill.streamer.server.live_session import SessionFactory

if TYPE_CHECKING:
    from streamchill.streamer.mqtt.publisher import MqttPublisher

log = logging.getLogger(__name__)

INTERNAL_QUEUE = 1024
"""Queue of in-process subscribers (MQTT): roomier than a socket's, still bounded."""


async def hub_events(hub: EventHub, *, what: str) -> AsyncIterator[MoodEvent]:
    """Mood events of all streams, forever: if the consumer falls behind and is dropped,
    it is resubscribed (and gets each stream's current state) instead of failing."""
    while True:
        sub = hub.subscribe(maxsize=INTERNAL_QUEUE, lifecycle=False)
        try:
            async for message in sub:
                if isinstance(message, MoodEvent):
                    yield message
            return
        except SubscriberDropped:
            log.warning("%s fell %d events behind; resubscribing", what, INTERNAL_QUEUE)
        finally:
            sub.close()


def write_ready_file(path: Path, *, port: int, token: str) -> None:
    """Atomically write ``{"port", "token", "pid"}`` (0600: it holds the token)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"port": port, "token": token, "pid": os.getpid()}, fh)
    tmp.replace(path)


class Daemon:
    """Runs until :meth:`stop`; :meth:`run` returns after a clean shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: SessionFactory | None = None,
        on_ready: Callable[[int, str], None] | None = None,
        preload: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.preload = preload if preload is not None else _load_models
        self.on_ready = on_ready
        self.hub = EventHub()
        self._stop = asyncio.Event()
        self.server: DaemonServer | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to shut down (safe to call from a signal handler on the loop)."""
        self._stop.set()

    async def run(self) -> None:
        """Serve until stopped. Raises :class:`~.errors.ConfigError` on bad settings."""
        s = self.settings
        token = load_or_create_token(s.config_dir)
        mqtt = self._mqtt_publisher()  # config errors surface before we bind
        # The models load now, while nothing else runs: the first stream does not wait for
        # them (its audio would queue, then drop), a missing or corrupt model stops the
        # daemon at once with its reason, and LiteRT's load (which briefly takes over fd 2
        # to drop its INFO line) never overlaps a capture device opening.
        await asyncio.to_thread(self.preload)
        self.server = DaemonServer(
            s, hub=self.hub, token=token, session_factory=self.session_factory
        )
        await self.server.start()
        tasks: list[asyncio.Task[None]] = []
        if mqtt is not None:
            events = hub_events(self.hub, what="the MQTT publisher")
            tasks.append(asyncio.create_task(mqtt.run(events), name="mqtt"))
        if s.capture:
            from streamchill.streamer.sources.capture import CaptureLoop

            capture = CaptureLoop(s.capture, server=self.server, name=s.capture_stream)
            tasks.append(asyncio.create_task(capture.run(), name="capture"))
        if self.on_ready is not None:
            self.on_ready(self.server.port, token)
        stopper = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    exc = task.exception()
                    log.error("%s stopped: %s", task.get_name(), exc)
                    raise exc  # type: ignore[misc]
        finally:
            log.info("shutting down")
            stopper.cancel()
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.gather(*tasks, return_exceptions=True)
            await self.server.close()
            log.info("stopped")

    def _mqtt_publisher(self) -> MqttPublisher | None:
        url = self.settings.mqtt
        if not url:
            return None
        from streamchill.streamer.mqtt.publisher import MqttPublisher, MqttSettings

        settings = MqttSettings.from_url(url, config=read_config_file(self.settings.config_dir))
        log.info("publishing events to MQTT broker %s", settings.redacted_url())
        return MqttPublisher(settings, stats=self.hub.stats)


def _load_models() -> object:
    """The shared analysis models (imported lazily: essentia and LiteRT are heavy)."""
    from streamchill.analyzer.errors import AnalyzerError
    from streamchill.analyzer.models_bundle import shared_models

    try:
        return shared_models()
    except AnalyzerError as exc:
        raise ConfigError(f"cannot load the analysis models: {exc}") from exc
