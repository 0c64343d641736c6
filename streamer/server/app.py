"""The daemon's one port: WebSocket ``/v1/audio`` and ``/v1/events``, plus plain HTTP.

Every request is judged by :class:`streamchill.streamer.server.auth.Gate` inside websockets'
``process_request``, i.e. before any handshake: a refused upgrade never becomes a
WebSocket, bar one kind: a browser extension the allow-list does not know, without the
right token, gets its socket closed at once with a code that says why (``auth.py``, rule
2). Plain HTTP paths are answered there too (``/healthz``, ``/v1/streams``, ``/v1/stats``,
``/v1/analyze``, ``/<video_id>``).
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
import re
import socket
import weakref
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from streamchill.streamer.config import Settings
from streamchill.streamer.errors import SubscriberDropped
from streamchill.streamer.server.auth import Decision, Gate
from streamchill.streamer.server.hub import EventHub, Subscription, message_text
from streamchill.streamer.server.ingest import IngestConnection
from streamchill.streamer.server.live_session import SessionFactory, analyzer_session
from streamchill.streamer.server.messages import (
    EVENTS_CONTROL,
    STREAM_NAME,
    ErrorMessage,
    MessageError,
    Ping,
    Pong,
    Subscribe,
    Welcome,
    parse_client_text,
    to_json,
)
from streamchill.streamer.server.oneshot import OneShot
from streamchill.streamer.server.pool import AnalysisPool, cap_malloc_arenas
from streamchill.streamer.server.stats import Stats

log = logging.getLogger(__name__)

VIDEO_ID = re.compile(r"/([A-Za-z0-9_-]{11})")
"""The seed service's ``GET /<video_id>`` (a YouTube id)."""
WS_PATHS = frozenset({"/v1/audio", "/v1/events"})
EVENTS_SNDBUF = 32 * 1024
"""Kernel send buffer of a subscriber socket, in bytes (~60 events). Without it Linux lets
it grow to megabytes, and a subscriber that stopped reading would take minutes to fill
it before its hub queue ever noticed; with it, a stuck client is dropped within seconds."""
WRITE_LIMIT = 16 * 1024
"""websockets' user-space write buffer per connection, in bytes, before ``send`` waits."""


def server_version() -> str:
    """``streamchill/<version>`` for the welcome message and ``/healthz``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"streamchill/{version('streamchill')}"
    except PackageNotFoundError:
        return "streamchill/0+unknown"


class DaemonServer:
    """Owns the listening socket, the analysis workers and the connection handlers."""

    def __init__(
        self,
        settings: Settings,
        *,
        hub: EventHub,
        token: str,
        session_factory: SessionFactory | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.stats: Stats = hub.stats
        self.gate = Gate(
            token, allowed_origins=settings.allowed_origins, allowed_hosts=settings.allowed_hosts
        )
        # A thread for every stream that may be busy (and captures), analysis_threads turns.
        cap_malloc_arenas(settings.analysis_threads)  # one arena a turn (measured: 2, the default)
        self.pool = AnalysisPool(
            turns=settings.analysis_threads,
            max_threads=settings.max_streams + settings.analysis_threads + 2,
        )
        self.executor: Executor = self.pool
        self.session_factory: SessionFactory = session_factory or functools.partial(
            analyzer_session, teacher_wait=self.pool.waiting
        )
        self.oneshot = OneShot(cache_size=settings.analyze_cache, wait_s=settings.analyze_wait_s)
        self.live_names: set[str] = set()
        """Ingest streams live now (names reserved at hello time)."""
        self.max_streams = settings.max_streams
        self.stream_queue_s = settings.stream_queue_s
        self.hello_timeout_s = settings.hello_timeout_s
        self.idle_timeout_s = settings.idle_timeout_s
        self.version = server_version()
        self._server: Server | None = None
        self._refused: weakref.WeakKeyDictionary[ServerConnection, Decision] = (
            weakref.WeakKeyDictionary()
        )
        """Upgrades the gate refused with a close code, until their handler closes them (a
        handshake that fails after the gate leaves no entry behind)."""

    @property
    def port(self) -> int:
        """The bound TCP port (useful with ``port = 0``)."""
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and start serving."""
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            compression=None,  # audio does not compress; deflate would only cost CPU
            max_size=self.settings.max_frame_bytes,
            max_queue=16,
            write_limit=WRITE_LIMIT,
            open_timeout=10,
            close_timeout=2,
            ping_interval=20,
            ping_timeout=20,
        )
        log.info("listening on %s:%d", self.settings.host, self.port)

    async def close(self) -> None:
        """Stop accepting, close every connection, end subscriptions, stop workers."""
        self.hub.close()
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        self.oneshot.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- HTTP, before any handshake -----------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        decision = self.gate.check(request.path, request.headers)
        url = urlsplit(request.path)
        if not decision.allowed:
            self.stats.http_refused += 1
            log.warning("refused %s from %s: %s", url.path, _peer(connection), decision.reason)
            if decision.close_code and url.path in WS_PATHS and _wants_websocket(request):
                self._refused[connection] = decision
                return None  # the handler closes it with the code, right after the handshake
            return connection.respond(http.HTTPStatus.FORBIDDEN, decision.reason + "\n")
        if url.path in WS_PATHS:
            if url.path == "/v1/events" and self.hub.subscriber_count >= self._max_subscribers():
                return _json(connection, 503, {"error": "too many subscribers"})
            return None  # go on with the WebSocket handshake
        query = parse_qs(url.query)
        if url.path == "/healthz":
            uptime_s = self.stats.as_dict()["uptime_s"]
            return _json(
                connection, 200, {"status": "ok", "version": self.version, "uptime_s": uptime_s}
            )
        if url.path == "/v1/streams":
            return _json(connection, 200, {"streams": self.hub.stream_info()})
        if url.path == "/v1/stats":
            return _json(connection, 200, self.stats.as_dict())
        source = None
        if url.path == "/v1/analyze":
            values = query.get("source", [])
            if len(values) != 1 or not values[0]:
                return _json(connection, 400, {"error": "give exactly one ?source=<url-or-id>"})
            source = values[0]
        elif match := VIDEO_ID.fullmatch(url.path):
            source = match.group(1)
        if source is None:
            return _json(connection, 404, {"error": f"no such path: {url.path}"})
        status, body = await self.oneshot.get(source)
        return _json(connection, status, body)

    def _max_subscribers(self) -> int:
        return self.settings.max_subscribers

    # -- WebSockets ---------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        path = urlsplit(ws.request.path if ws.request else "").path
        refusal = self._refused.pop(ws, None)
        if refusal is not None:
            await ws.close(refusal.close_code, refusal.close_reason)
            return
        try:
            if path == "/v1/audio":
                await IngestConnection(ws, self).serve()
            elif path == "/v1/events":
                await self._events(ws)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("handler for %s from %s failed", path, _peer(ws))
            await ws.close(1011, "internal error")

    async def _events(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        try:
            streams, since = parse_events_query(query)
        except MessageError as exc:
            await ws.send(to_json(ErrorMessage.from_exception(exc)))
            await ws.close(1008, exc.code)
            return
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, EVENTS_SNDBUF)
        sub = self.hub.subscribe(streams, since=since, maxsize=self.settings.subscriber_queue)
        dropped = asyncio.Event()
        sub.on_drop = dropped.set
        peer = _peer(ws)
        log.info("subscriber %s connected (streams=%s)", peer, ",".join(streams or ["all"]))
        live = self.hub.live_streams()
        welcome = Welcome(
            server=self.version,
            streams=tuple(s for s in live if streams is None or s in streams),
        )
        tasks: set[asyncio.Task[None]] = set()
        try:
            await ws.send(to_json(welcome))
            tasks = {
                asyncio.create_task(_relay(ws, sub)),
                asyncio.create_task(self._control(ws, sub)),
                asyncio.create_task(_wait_event(dropped)),
            }
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            sub.close()
        if sub.dropped:
            log.warning("subscriber %s dropped: it fell %d messages behind", peer, sub.maxsize)
            await ws.close(1008, "too slow; reconnect with since")
        else:
            log.info("subscriber %s left", peer)

    async def _control(self, ws: ServerConnection, sub: Subscription) -> None:
        errors = 0
        async for message in ws:
            try:
                if isinstance(message, bytes):
                    raise MessageError("unknown_type", "binary frames are not accepted here")
                control = parse_client_text(message, allowed=EVENTS_CONTROL)
            except MessageError as exc:
                errors += 1
                self.stats.errors_sent += 1
                log.warning("subscriber %s: %s: %s", _peer(ws), exc.code, exc.message)
                await ws.send(to_json(ErrorMessage.from_exception(exc)))
                if errors > 20:
                    await ws.close(1008, "too_many_errors")
                    return
                continue
            if isinstance(control, Ping):
                await ws.send(to_json(Pong()))
            elif isinstance(control, Subscribe):
                sub.update(control.streams, dict(control.since))


async def _relay(ws: ServerConnection, sub: Subscription) -> None:
    """Copy a subscription to its socket; the hub drops us if we fall behind."""
    try:
        async for message in sub:
            await ws.send(message_text(message))
    except (SubscriberDropped, ConnectionClosed):
        pass


async def _wait_event(event: asyncio.Event) -> None:
    await event.wait()


def parse_events_query(
    query: Mapping[str, list[str]],
) -> tuple[list[str] | None, dict[str, int]]:
    """``?streams=a,b&since=a:41,b:7`` -> (["a", "b"], {"a": 41, "b": 7})."""
    streams = None
    if query.get("streams"):
        streams = [s for s in ",".join(query["streams"]).split(",") if s]
        for name in streams:
            if not STREAM_NAME.fullmatch(name):
                raise MessageError("bad_message", f"bad stream name in ?streams=: {name[:40]!r}")
    since: dict[str, int] = {}
    for item in ",".join(query.get("since", [])).split(","):
        if not item:
            continue
        name, _, seq = item.rpartition(":")
        if not STREAM_NAME.fullmatch(name) or not seq.lstrip("-").isdigit() or int(seq) < -1:
            raise MessageError("bad_message", f"?since= wants name:seq pairs, got {item[:40]!r}")
        since[name] = int(seq)
    return streams, since


def _json(connection: ServerConnection, status: int, body: Mapping[str, Any]) -> Response:
    response = connection.respond(status, json.dumps(body, separators=(",", ":")) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response


def _wants_websocket(request: Request) -> bool:
    """The request asks for a WebSocket (``Upgrade: websocket``): only then can a refusal
    wait for the handshake and say why in a close code; a plain GET gets its 403 at once."""
    upgrade = ",".join(request.headers.get_all("Upgrade")).lower()
    return "websocket" in (token.strip() for token in upgrade.split(","))


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
