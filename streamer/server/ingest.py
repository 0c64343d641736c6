"""Audio into analysis: one :class:`AnalysisStream` per live stream, and the ``/v1/audio``
connection handler that feeds one from WebSocket frames.

The event loop never waits for analysis. Audio goes into a per-stream queue bounded in
seconds of audio; one task per stream hands everything queued so far to a worker thread
(``Session.feed`` is CPU-bound and not thread-safe, so a stream never has two calls in
flight). The worker hands each event to the loop the moment its hop is done
(``Session.feed_each``), so a hop's event never waits for the rest of the block: a patch
that completes after the hop, or the later hops of a backlog. When the queue is full, new
audio is dropped and counted, never buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from concurrent.futures import Executor
from typing import Any, Protocol

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from streamchill.analyzer.audio import FrameCutter, SampleFormat
from streamchill.analyzer.edge import AudioEdge
from streamchill.analyzer.events import MoodEvent
from streamchill.streamer.server.hub import EventHub
from streamchill.streamer.server.live_session import SessionFactory, SessionLike
from streamchill.streamer.server.messages import (
    AUDIO_START,
    AUDIO_STREAMING,
    Bye,
    ErrorMessage,
    Hello,
    MessageError,
    Ping,
    Pong,
    Ready,
    StreamEnd,
    StreamStart,
    WarningMessage,
    parse_client_text,
    to_json,
)
from streamchill.streamer.server.stats import Stats

log = logging.getLogger(__name__)

MAX_ERRORS = 20
"""Bad messages/frames one connection may send before it is closed."""
SEND_TIMEOUT_S = 5.0
"""A client that does not read its control messages for this long is disconnected."""
WARN_INTERVAL_S = 1.0
"""At most one ``dropped_audio`` warning per stream per interval."""


class AnalysisStream:
    """A live stream's bounded queue and its analysis task; publishes to the hub."""

    def __init__(
        self,
        name: str,
        session: SessionLike,
        *,
        hub: EventHub,
        stats: Stats,
        executor: Executor,
        max_queued: int,
        max_feed: int,
    ) -> None:
        self.name = name
        self.max_queued = max_queued
        """Queue bound, in bytes (or samples for arrays): ``stream_queue_s`` of audio."""
        self.max_feed = max_feed
        """Audio handed to one ``feed`` call (about 1 s): a backlog is worked off in slices,
        so streams sharing the worker take turns and events come out one hop at a time."""
        self._session = session
        self._hub = hub
        self._stats = stats
        self._executor = executor
        self._queue: deque[bytes | np.ndarray] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._patches_counted: dict[str, int] = {}
        self.error: BaseException | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"analysis:{name}")

    @property
    def done(self) -> asyncio.Task[None]:
        """The analysis task; it ends after :meth:`close` or on an analysis error."""
        return self._task

    def offer(self, chunk: bytes | np.ndarray) -> bool:
        """Queue audio without waiting; False (and counted) if the queue is full."""
        size = len(chunk) if isinstance(chunk, bytes) else chunk.size
        if self._closing or self._task.done():
            return False
        if self._queued + size > self.max_queued:
            self._stats.frames_dropped += 1
            return False
        self._queue.append(chunk)
        self._queued += size
        self._wake.set()
        return True

    async def close(self) -> None:
        """Analyse what is queued, finish the session, publish the end. Idempotent."""
        self._closing = True
        self._wake.set()
        with contextlib.suppress(Exception):  # already logged by _run
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                block = self._take_all()
                await loop.run_in_executor(self._executor, self._analyse, loop, block)
            self._publish(await loop.run_in_executor(self._executor, self._finish, loop))
        except Exception as exc:
            self.error = exc
            log.exception("stream %r: analysis failed; closing the stream", self.name)
            raise
        finally:
            self._queue.clear()
            self._hub.publish(StreamEnd(stream=self.name))

    def _analyse(self, loop: asyncio.AbstractEventLoop, block: bytes | np.ndarray) -> None:
        """On a worker thread: feed ``block``, handing each event to the loop as it is made.

        ``call_soon_threadsafe`` keeps them in order, and ahead of the completion of the
        ``run_in_executor`` future that wraps this call, hence ahead of anything the stream
        publishes after it (the next block's events, the stream's end).
        """
        each = getattr(self._session, "feed_each", None)
        events = each(block) if each is not None else self._session.feed(block)
        for event in events:
            loop.call_soon_threadsafe(self._hub.publish, event)
        self._count_patches(loop)

    def _finish(self, loop: asyncio.AbstractEventLoop) -> list[MoodEvent]:
        events = self._session.finish()
        self._count_patches(loop)
        return events

    def _count_patches(self, loop: asyncio.AbstractEventLoop) -> None:
        """On a worker thread: hand the stream's new cascade counts to ``/v1/stats``."""
        if (counts := getattr(self._session, "cascade_counts", None)) is None:
            return
        now = counts.as_dict()
        delta = {k: v - self._patches_counted.get(k, 0) for k, v in now.items()}
        self._patches_counted = now
        if any(delta.values()):
            loop.call_soon_threadsafe(self._stats.add_patches, delta)

    def _take_all(self) -> bytes | np.ndarray:
        items: list[Any] = []
        size = 0
        while self._queue and (not items or size < self.max_feed):
            item = self._queue.popleft()
            items.append(item)
            size += len(item) if isinstance(item, bytes) else item.size
        self._queued -= size
        if isinstance(items[0], bytes):
            return b"".join(items)
        return np.concatenate(items)

    def _publish(self, events: list[MoodEvent]) -> None:
        for event in events:
            self._hub.publish(event)


class FrameAligner:
    """Cuts a PCM byte stream into whole sample frames and checks them (pure, no I/O).

    The alignment and the sample policy are the analyzer's audio edge
    (:class:`~streamchill.analyzer.audio.FrameCutter`, :meth:`AudioEdge.non_finite`); the
    ingest adds only the wire's rule that an empty or non-finite frame is refused.
    """

    def __init__(self, sample_format: SampleFormat, channels: int) -> None:
        self._format = SampleFormat(sample_format)
        self._cutter = FrameCutter(self._format, channels)
        self.frame_bytes = self._cutter.frame_bytes

    @property
    def carry(self) -> bytes:
        return self._cutter.carry

    def push(self, data: bytes) -> bytes:
        """Aligned audio completed by ``data`` (may be empty). Raises ``ValueError`` for an
        empty frame or NaN/Inf samples; such a frame's audio is dropped, alignment kept."""
        if not data:
            raise ValueError("empty binary frame")
        chunk = self._cutter.push(data)
        if AudioEdge.non_finite(chunk, self._format):
            raise ValueError("frame holds NaN or Inf samples; it was dropped")
        return chunk


class IngestContext(Protocol):
    """What an ingest connection needs from the server."""

    hub: EventHub
    stats: Stats
    executor: Executor
    session_factory: SessionFactory
    live_names: set[str]
    max_streams: int
    stream_queue_s: float
    hello_timeout_s: float
    idle_timeout_s: float


class IngestConnection:
    """Serves one ``/v1/audio`` WebSocket: hello, then PCM frames, then bye or a close."""

    def __init__(self, ws: ServerConnection, ctx: IngestContext) -> None:
        self.ws = ws
        self.ctx = ctx
        self.peer = f"{ws.remote_address[0]}:{ws.remote_address[1]}" if ws.remote_address else "?"
        self.errors = 0
        # The gate let it in either by an allowed extension Origin or by the token.
        has_origin = ws.request is not None and "Origin" in ws.request.headers
        self.source = "extension" if has_origin else "client"
        self._dropped = 0
        self._warned_at = 0.0

    async def serve(self) -> None:
        """The connection's whole life; never raises for anything the client does."""
        hello = await self._hello()
        if hello is None:
            return
        ctx = self.ctx
        if hello.stream in ctx.live_names or len(ctx.live_names) >= ctx.max_streams:
            why = "is already streaming" if hello.stream in ctx.live_names else "is not accepted"
            await self._error(
                "busy", f"stream {hello.stream!r} {why} ({len(ctx.live_names)} live)", 1008
            )
            return
        ctx.live_names.add(hello.stream)  # reserved before any await
        try:
            await self._stream(hello)
        finally:
            ctx.live_names.discard(hello.stream)

    async def _stream(self, hello: Hello) -> None:
        ctx = self.ctx
        loop = asyncio.get_running_loop()
        try:
            session = await loop.run_in_executor(
                ctx.executor,
                ctx.session_factory,
                hello.stream,
                hello.sample_rate_hz,
                hello.channels,
                hello.sample_format,
            )
        except Exception as exc:
            log.exception("stream %r: cannot start analysis", hello.stream)
            await self._error("analysis_failed", f"cannot start analysis: {exc}", 1011)
            return
        ctx.hub.publish(
            StreamStart(stream=hello.stream, title=hello.title, url=hello.url, source=self.source)
        )
        stream = AnalysisStream(
            hello.stream,
            session,
            hub=ctx.hub,
            stats=ctx.stats,
            executor=ctx.executor,
            max_queued=int(hello.bytes_per_second * ctx.stream_queue_s),
            max_feed=hello.bytes_per_second,
        )
        self._aligner = FrameAligner(hello.sample_format, hello.channels)
        log.info(
            "stream %r started from %s: %d Hz, %d ch, %s, title=%r",
            hello.stream, self.peer, hello.sample_rate_hz, hello.channels,
            hello.sample_format.value, hello.title,
        )  # fmt: skip
        try:
            await self._send(Ready(stream=hello.stream))
            await self._receive(stream)
        finally:
            await stream.close()
            if stream.error is not None:
                await self._error("analysis_failed", f"analysis failed: {stream.error}", 1011)
            elif self.ws.state.name == "OPEN":
                await self.ws.close(1000, "stream ended")
            log.info("stream %r ended (%d bad inputs)", hello.stream, self.errors)

    async def _hello(self) -> Hello | None:
        try:
            async with asyncio.timeout(self.ctx.hello_timeout_s):
                first = await self.ws.recv()
        except TimeoutError:
            await self._error("timeout", f"no hello within {self.ctx.hello_timeout_s:g} s", 1008)
            return None
        except ConnectionClosed:
            return None
        if isinstance(first, bytes):
            await self._error("bad_hello", "audio arrived before the hello message", 1008)
            return None
        try:
            hello = parse_client_text(first, allowed=AUDIO_START)
        except MessageError as exc:
            close = 1003 if exc.code == "unsupported_format" else 1008
            await self._error(exc.code, exc.message, close)
            return None
        assert isinstance(hello, Hello)
        return hello

    async def _receive(self, stream: AnalysisStream) -> None:
        while not stream.done.done():
            try:
                async with asyncio.timeout(self.ctx.idle_timeout_s):
                    message = await self.ws.recv()
            except TimeoutError:
                log.info("stream %r: no audio for %g s", stream.name, self.ctx.idle_timeout_s)
                return
            except ConnectionClosed:
                return
            if isinstance(message, bytes):
                problem = self._frame(stream, message)
                if problem is not None:
                    self.ctx.stats.frames_rejected += 1
                    await self._error("bad_frame", problem)
                elif self._dropped and time.monotonic() - self._warned_at >= WARN_INTERVAL_S:
                    log.warning("stream %r: dropped %d frames (queue full)", stream.name,
                                self._dropped)  # fmt: skip
                    frames, self._dropped, self._warned_at = self._dropped, 0, time.monotonic()
                    await self._send(WarningMessage(code="dropped_audio", frames=frames))
                if self.errors > MAX_ERRORS:
                    return
                continue
            try:
                control = parse_client_text(message, allowed=AUDIO_STREAMING)
            except MessageError as exc:
                await self._error(exc.code, exc.message)
                continue
            if isinstance(control, Bye):
                return
            if isinstance(control, Ping):
                await self._send(Pong())
            if self.errors > MAX_ERRORS:
                return

    def _frame(self, stream: AnalysisStream, data: bytes) -> str | None:
        """Queue one binary frame's audio; return why it was refused, if it was."""
        stats = self.ctx.stats
        stats.frames_in += 1
        stats.bytes_in += len(data)
        try:
            chunk = self._aligner.push(data)
        except ValueError as exc:
            return str(exc)
        if chunk and not stream.offer(chunk):
            self._dropped += 1
        return None

    async def _error(self, code: str, message: str, close_code: int | None = None) -> None:
        """Tell the client what was wrong (and log it); close if asked or if it keeps at it."""
        self.errors += 1
        self.ctx.stats.errors_sent += 1
        if self.errors <= 3 or close_code is not None:
            log.warning("%s on /v1/audio: %s: %s", self.peer, code, message)
        if self.errors > MAX_ERRORS and close_code is None:
            code, close_code = "too_many_errors", 1007 if code == "bad_frame" else 1008
            message = f"more than {MAX_ERRORS} bad inputs; closing"
        if self.errors <= MAX_ERRORS + 1:
            await self._send(ErrorMessage(code=code, message=message))
        if close_code is not None:
            await self.ws.close(close_code, code)

    async def _send(self, message: Ready | ErrorMessage | WarningMessage | Pong) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self.ws.send(to_json(message))
        except ConnectionClosed:
            pass
        except TimeoutError:
            log.warning("%s on /v1/audio does not read its messages; disconnecting", self.peer)
            self.ws.transport.abort()
