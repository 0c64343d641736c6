"""A fuzz target: the real server on its own loop thread, watched for escaped exceptions.

Shared by the ``test_fuzz_*.py`` modules. The server's event loop records every exception
nobody retrieved ("Task exception was never retrieved", a crashed callback) and every
``ERROR`` log line of ``streamchill``; each test ends by asserting there were none. Import
the fixture with ``from tests.support.fuzz import watched``.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamchill.analyzer.audio import SampleFormat
from streamchill.analyzer.events import MoodEvent
from streamchill.streamer.config import Settings
from streamchill.streamer.server.app import DaemonServer
from streamchill.streamer.server.hub import EventHub
from streamchill.streamer.server.messages import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "streamer" / "schema" / "protocol.schema.json").read_text())
PROTOCOL = jsonschema.Draft202012Validator(SCHEMA)
TOKEN = "f" * 43
T = 10.0  # seconds any single await may take
R = TypeVar("R")
FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class RecordingSession:
    """Stand-in analyzer: keeps every byte it is fed, emits nothing."""

    stream: str
    rate: int
    channels: int
    fmt: SampleFormat
    fed: bytearray = field(default_factory=bytearray)
    finished: bool = False

    def feed(self, block: bytes | np.ndarray) -> list[MoodEvent]:
        assert isinstance(block, bytes)
        self.fed += block
        return []

    def finish(self) -> list[MoodEvent]:
        self.finished = True
        return []


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@dataclass
class WatchedServer:
    """A :class:`DaemonServer` on a loop thread; ``escaped`` is what must stay empty."""

    loop: asyncio.AbstractEventLoop
    server: DaemonServer
    sessions: dict[str, RecordingSession]
    escaped: list[str]

    def run(self, coro: Coroutine[Any, Any, R], timeout_s: float = 30.0) -> R:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.server.port}{path}"

    def assert_nothing_escaped(self, *, collect: bool = False) -> None:
        """No exception escaped so far. ``collect``: first collect garbage, which is when a
        dead task reports "Task exception was never retrieved" (too slow for every example)."""
        if collect:
            gc.collect()
            self.run(asyncio.sleep(0))  # a round trip: what the loop was handed has run
        assert not self.escaped, "\n".join(self.escaped)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WatchedServer]:
    loop = asyncio.new_event_loop()
    escaped: list[str] = []

    def handler(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        escaped.append(f"{context.get('message')}: {context.get('exception')!r}")

    loop.set_exception_handler(handler)
    errors = _ErrorLog()
    logging.getLogger("streamchill").addHandler(errors)
    thread = threading.Thread(target=loop.run_forever, name="fuzz-server", daemon=True)
    thread.start()
    sessions: dict[str, RecordingSession] = {}

    def factory(stream: str, rate: int, channels: int, fmt: SampleFormat) -> RecordingSession:
        sessions[stream] = RecordingSession(stream, rate, channels, fmt)
        return sessions[stream]

    config = Settings(port=0, config_dir=tmp_path_factory.mktemp("fuzz"), hello_timeout_s=2.0)

    async def start() -> DaemonServer:
        srv = DaemonServer(config, hub=EventHub(), token=TOKEN, session_factory=factory)
        await srv.start()
        return srv

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(T)
    watched = WatchedServer(loop, server, sessions, escaped)
    # ERROR log lines count as escaped too (a handler that died is logged, not raised)
    errors.records = escaped
    try:
        yield watched
        watched.assert_nothing_escaped(collect=True)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(T)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(T)
        loop.close()
        logging.getLogger("streamchill").removeHandler(errors)


_names = itertools.count()


def fresh_name() -> str:
    """A stream name no earlier example used (a closing stream may still hold its name)."""
    return f"fuzz-{next(_names)}"


def client(w: WatchedServer, path: str) -> Any:
    return connect(w.url(path), additional_headers={"Authorization": f"Bearer {TOKEN}"},
                   open_timeout=T, close_timeout=T, compression=None)  # fmt: skip


async def replies(ws: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Every text message until the server closes, and its close code."""
    out: list[dict[str, Any]] = []
    try:
        while True:
            message = await asyncio.wait_for(ws.recv(), T)
            assert isinstance(message, str)
            out.append(json.loads(message))
    except ConnectionClosed:
        pass
    return out, ws.close_code


def assert_documented(message: dict[str, Any]) -> None:
    """A server message valid by the protocol schema; errors carry a documented code."""
    errors = list(PROTOCOL.iter_errors(message))
    assert not errors, (message, errors)
    if message["type"] == "error":
        assert message["code"] in ERROR_CODES


# -- what clients might send ----------------------------------------------------------

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
