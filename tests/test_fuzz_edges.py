"""Every decoder at the edge, fed whatever hypothesis can think of, through the real code path.

test_messages.py checks the pure parsers on bytes; here the same kinds of input go over a
real WebSocket to an in-process server (stand-in analyzer), and the config file goes
through ``load_settings``. The rule everywhere: an input is either accepted or refused
with a documented error; nothing else escapes. "Nothing else" is checked, not assumed:
the server's event loop records every exception nobody retrieved ("Task exception was
never retrieved", a crashed callback) and every ``ERROR`` log line of ``streamer``, and
each test ends by asserting there were none.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import math
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamchill.analyzer.audio import SampleFormat
from streamchill.analyzer.events import MoodEvent
from streamchill.streamer.config import CONFIG_FILE, Settings, load_settings, read_config_file
from streamchill.streamer.errors import ConfigError
from streamchill.streamer.mqtt.settings import MqttSettings
from streamchill.streamer.server.app import DaemonServer, parse_events_query
from streamchill.streamer.server.hub import EventHub
from streamchill.streamer.server.messages import (
    ERROR_CODES,
    EVENTS_CONTROL,
    STREAM_NAME,
    MessageError,
    Ping,
    parse_client_text,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "streamer" / "schema" / "protocol.schema.json").read_text())
PROTOCOL = jsonschema.Draft202012Validator(SCHEMA)
TOKEN = "f" * 43
T = 10.0  # seconds any single await may take
R = TypeVar("R")
FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# -- a server on its own loop thread, watched for escaped exceptions ----------------------


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
            self.run(asyncio.sleep(0.05))  # let the loop run the handler it was handed
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


def test_the_watch_sees_a_task_exception_nobody_retrieved(watched: WatchedServer) -> None:
    """The check the other tests rely on: a task that dies unobserved is caught."""

    async def doomed() -> None:
        raise RuntimeError("boom")

    async def spawn() -> None:
        watched.loop.create_task(doomed())
        await asyncio.sleep(0.01)

    watched.run(spawn())
    with pytest.raises(AssertionError, match="never retrieved"):
        watched.assert_nothing_escaped(collect=True)
    watched.escaped.clear()


# -- the audio hello, over a real socket -------------------------------------------------

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
HELLO_FIELDS = {
    "type": st.sampled_from(["hello", "hello", "bye", "ping", "subscribe"]) | ANY_JSON,
    "v": st.sampled_from([1, 1, 2, 0, "1"]) | ANY_JSON,
    "stream": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,130}", fullmatch=True) | ANY_JSON,
    "sample_rate_hz": st.integers(7000, 200_000) | ANY_JSON,
    "channels": st.integers(-1, 10) | ANY_JSON,
    "sample_format": st.sampled_from(["f32le", "s16le", "u8"]) | ANY_JSON,
    "title": st.text(max_size=600) | ANY_JSON,
    "url": st.text(max_size=40) | ANY_JSON,
}


@st.composite
def first_messages(draw: st.DrawFn) -> str | bytes:
    """What a client might send first on /v1/audio: hello-ish JSON, other JSON, junk."""
    kind = draw(st.sampled_from(["hello", "hello", "hello", "json", "text", "binary"]))
    if kind == "hello":
        keys = draw(st.lists(st.sampled_from(list(HELLO_FIELDS)), unique=True))
        return json.dumps({k: draw(HELLO_FIELDS[k]) for k in ["type", *keys]})
    if kind == "json":
        return json.dumps(draw(ANY_JSON))
    if kind == "text":
        return draw(st.text(max_size=200))
    return draw(st.binary(min_size=1, max_size=200))


@given(first=first_messages())
@FUZZ
def test_any_first_message_gets_ready_or_a_documented_error_and_close(
    watched: WatchedServer, first: str | bytes
) -> None:
    if isinstance(first, str) and first.startswith("{"):
        data = json.loads(first)
        if isinstance(data, dict) and "stream" in data and isinstance(data["stream"], str):
            data["stream"] = data["stream"][:100] + fresh_name()  # never busy by accident
            first = json.dumps(data)

    async def go() -> tuple[list[dict[str, Any]], int | None]:
        async with client(watched, "/v1/audio") as ws:
            await asyncio.wait_for(ws.send(first), T)
            reply = json.loads(await asyncio.wait_for(ws.recv(), T))
            if reply["type"] == "ready":
                await asyncio.wait_for(ws.send(json.dumps({"type": "bye"})), T)
            rest, code = await replies(ws)
            return [reply, *rest], code

    got, code = watched.run(go())
    for message in got:
        assert_documented(message)
    if got[0]["type"] == "ready":
        assert code == 1000 and len(got) == 1
    else:
        assert got[0]["type"] == "error"
        expected = 1003 if got[0]["code"] == "unsupported_format" else 1008
        assert code == expected, (got, code)
    watched.assert_nothing_escaped()


# -- PCM frames of every declared format, split anywhere ---------------------------------


@st.composite
def pcm_streams(draw: st.DrawFn) -> tuple[str, int, int, bytes, list[int], int | None]:
    """(sample_format, sample_rate_hz, channels, finite PCM bytes, cut points, where to slip
    in a NaN frame (at a cut that falls on a whole sample frame) or None)."""
    fmt = draw(st.sampled_from(["s16le", "f32le"]))
    rate = draw(st.sampled_from([8000, 16_000, 22_050, 44_100, 48_000, 192_000]))
    channels = draw(st.integers(1, 8))
    frames = draw(st.integers(0, 400))
    if fmt == "s16le":
        data = draw(st.binary(min_size=frames * channels * 2, max_size=frames * channels * 2))
    else:
        values = draw(st.lists(st.floats(-1e4, 1e4, width=32), min_size=frames * channels,
                               max_size=frames * channels))  # fmt: skip
        data = np.asarray(values, dtype="<f4").tobytes()
    tail = draw(st.binary(max_size=channels * 4 - 1))  # a last sample frame left incomplete
    data += tail
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12, unique=True)))
    cuts = [c for c in cuts if c < len(data)]
    poison = draw(st.none() | st.integers(0, len(cuts)))
    return fmt, rate, channels, data, cuts, poison


@given(case=pcm_streams(), empty_frame=st.booleans())
@FUZZ
def test_pcm_of_any_layout_split_anywhere_reaches_analysis_whole_and_in_order(
    watched: WatchedServer,
    case: tuple[str, int, int, bytes, list[int], int | None],
    empty_frame: bool,
) -> None:
    """Whatever the frame boundaries, analysis gets exactly the whole sample frames sent,
    in order; an empty or NaN frame is refused with ``bad_frame`` and leaves no trace."""
    fmt, rate, channels, data, cuts, poison = case
    name = fresh_name()
    frame = channels * SampleFormat(fmt).bytes_per_sample
    bounds = [0, *cuts, len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    bad = 0
    if poison is not None and bounds[poison] % frame == 0 and fmt == "f32le":
        nan_frame = np.full(channels, np.nan, dtype="<f4").tobytes()
        pieces.insert(sum(1 for b in bounds[1 : poison + 1] if b > 0), nan_frame)
        bad += 1
    if empty_frame:
        pieces.insert(len(pieces) // 2, b"")
        bad += 1
    hello = {"type": "hello", "stream": name, "sample_rate_hz": rate, "channels": channels,
             "sample_format": fmt}  # fmt: skip

    async def go() -> tuple[list[dict[str, Any]], int | None]:
        async with client(watched, "/v1/audio") as ws:
            await asyncio.wait_for(ws.send(json.dumps(hello)), T)
            assert json.loads(await asyncio.wait_for(ws.recv(), T))["type"] == "ready"
            for piece in pieces:
                await asyncio.wait_for(ws.send(piece), T)
            await asyncio.wait_for(ws.send(json.dumps({"type": "bye"})), T)
            return await replies(ws)

    got, code = watched.run(go())
    assert code == 1000
    assert [m["code"] for m in got] == ["bad_frame"] * bad, got
    session = watched.sessions[name]
    assert session.finished
    assert bytes(session.fed) == data[: len(data) - len(data) % frame]
    watched.assert_nothing_escaped()


# -- subscriber control messages ---------------------------------------------------------

CONTROL = (
    st.fixed_dictionaries(
        {"type": st.just("subscribe")},
        optional={
            "streams": st.none() | st.lists(st.text(max_size=6), max_size=3) | ANY_JSON,
            "since": st.dictionaries(
                st.text(max_size=6), st.integers(-5, 2**70) | ANY_JSON, max_size=3
            )
            | ANY_JSON,
            "v": st.sampled_from([1, 2]) | ANY_JSON,
        },
    ).map(json.dumps)
    | st.just(json.dumps({"type": "ping"}))
    | ANY_JSON.map(json.dumps)
    | st.text(max_size=100)
    | st.binary(min_size=1, max_size=100)
)


def expected_reply(message: str | bytes) -> object:
    """What the server makes of one control message (a Ping, a Subscribe or an error)."""
    if isinstance(message, bytes):
        return MessageError("unknown_type", "binary")
    try:
        return parse_client_text(message, allowed=EVENTS_CONTROL)
    except MessageError as exc:
        return exc


@given(controls=st.lists(CONTROL, min_size=1, max_size=25))
@FUZZ
def test_any_control_messages_on_events_get_answers_and_never_break_the_subscriber(
    watched: WatchedServer, controls: list[str | bytes]
) -> None:
    """Pings get pongs, bad messages get documented errors; after 20 bad ones the server
    closes with 1008, otherwise the subscription still answers a last ping."""

    pings = 1 + sum(1 for c in controls if isinstance(expected_reply(c), Ping))

    async def go() -> tuple[list[dict[str, Any]], int | None]:
        async with client(watched, "/v1/events") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), T))["type"] == "welcome"
            try:
                for message in [*controls, json.dumps({"type": "ping"})]:
                    await asyncio.wait_for(ws.send(message), T)
            except ConnectionClosed:
                pass
            got: list[dict[str, Any]] = []
            try:
                while sum(1 for m in got if m["type"] == "pong") < pings:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), T)))
            except ConnectionClosed:
                pass
            return got, ws.close_code

    got, code = watched.run(go())
    errors = [m for m in got if m["type"] == "error"]
    for message in got:
        assert_documented(message)
    bad = sum(1 for c in controls if isinstance(expected_reply(c), MessageError))
    if bad > 20:
        assert code == 1008 and len(errors) == 21, (len(errors), code)
    else:
        assert code is None and len(errors) == bad and got[-1]["type"] == "pong", got
    watched.assert_nothing_escaped()


# -- the HTTP request before any handshake ----------------------------------------------

HEADER_VALUE = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
PATHS = st.sampled_from(["/healthz", "/v1/stats", "/v1/streams", "/v1/events", "/v1/audio",
                         "/v1/analyze", "/v1/analyze?source=a&source=b", "/nope", "/",
                         "/v1/events?streams=a,b&since=a:1", "/v1/events?since=x",
                         f"/v1/stats?token={TOKEN}", "/v1/stats?token="])  # fmt: skip
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            b"Host",
            b"Origin",
            b"Authorization",
            b"Upgrade",
            b"Connection",
            b"Sec-WebSocket-Key",
            b"Sec-WebSocket-Version",
            b"X-Junk",
        ]
    ),
    HEADER_VALUE
    | st.sampled_from(
        [
            b"localhost",
            b"127.0.0.1:1",
            b"[::1]",
            b"websocket",
            b"Upgrade",
            b"dGhlIHNhbXBsZSBub25jZQ==",
            b"13",
            b"Bearer " + TOKEN.encode(),
            b"chrome-extension://cjpikdgbceefcbkpjabodpmgjgfbfjjp",
        ]
    ),
    max_size=8,
)


@given(path=PATHS, headers=HEADERS)
@FUZZ
def test_any_http_request_gets_a_status_never_a_crash(
    watched: WatchedServer, path: str, headers: dict[bytes, bytes]
) -> None:
    """Host, Origin, token and upgrade headers of any shape (bytes included): the gate
    answers 403, the endpoint its status, or the handshake goes on (101); never a 500."""
    head = b"GET " + path.encode() + b" HTTP/1.1\r\n"
    head += b"".join(k + b": " + v + b"\r\n" for k, v in headers.items()) + b"\r\n"

    def exchange() -> int:
        with socket.create_connection(("127.0.0.1", watched.server.port), timeout=T) as sock:
            sock.sendall(head)
            reply = b""
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    return 0  # closed without an answer: a malformed request
                reply += chunk
            return int(reply.split(b" ", 2)[1])

    status = exchange()
    assert status in {0, 101, 200, 400, 403, 404, 503}, (status, head)
    watched.assert_nothing_escaped()


# -- the events query --------------------------------------------------------------------


@given(query=st.text(max_size=120) | st.from_regex(r"(streams=[\w,.:@-]*&?)?(since=[\w,:.-]*)?"))
@settings(max_examples=200, deadline=None)
def test_any_events_query_is_parsed_or_refused_as_bad_message(query: str) -> None:
    try:
        streams, since = parse_events_query(parse_qs(urlsplit("/v1/events?" + query).query))
    except MessageError as exc:
        assert exc.code == "bad_message"
        return
    assert streams is None or all(STREAM_NAME.fullmatch(s) for s in streams)
    assert all(STREAM_NAME.fullmatch(s) and isinstance(n, int) and n >= -1
               for s, n in since.items())  # fmt: skip


# -- the config file ---------------------------------------------------------------------

SETTING_NAMES = [f.name for f in fields(Settings) if f.name != "config_dir"]
TOML_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
TOML_SCALAR = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | TOML_TEXT
    | st.sampled_from([0, 1, 8765, 65536, -1, 0.5, 1e9, "none", "off", "", "mqtt://x", "info"])
)
TOML_VALUE = st.recursive(
    TOML_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TOML_TEXT, inner, max_size=2),
    max_leaves=5,
)


def toml_value(value: Any) -> str:
    """A TOML literal for ``value`` (inline tables and arrays for containers)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def config_files(draw: st.DrawFn) -> str:
    """config.toml text: known and unknown keys with right and wrong values, at top level
    or in a ``[daemon]`` table, sometimes with an ``[mqtt]`` table; or any text at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    keys = draw(st.lists(st.sampled_from([*SETTING_NAMES, "daemon", "bogus"]), max_size=5))
    body = {k: draw(TOML_VALUE) for k in keys}
    lines = [f"{k} = {toml_value(v)}" for k, v in body.items()]
    if draw(st.booleans()):
        lines.insert(0, "[daemon]")
    if draw(st.booleans()):
        mqtt_keys = ["username", "password", "topic_prefix", "node_id", "discovery_prefix",
                     "backoff_min_s", "backoff_max_s", "keepalive_s", "auth_backoff_s",
                     "tls_ca_file", "bogus"]  # fmt: skip
        table = draw(st.dictionaries(st.sampled_from(mqtt_keys), TOML_VALUE, max_size=4))
        lines += ["[mqtt]", *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def declared_type_holds(name: str, value: Any) -> bool:
    kind = str(next(f.type for f in fields(Settings) if f.name == name))
    if value is None:
        return "None" in kind
    if kind.startswith("int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind.startswith("float"):
        return isinstance(value, float)
    if kind.startswith("tuple"):
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


@given(text=config_files())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_config_file_gives_typed_settings_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    directory = tmp_path_factory.mktemp("cfg")
    (directory / CONFIG_FILE).write_text(text, encoding="utf-8")
    try:
        s = load_settings(directory, env={})
    except ConfigError as exc:
        assert str(exc)  # a message that says what is wrong
    else:
        for name in SETTING_NAMES:
            assert declared_type_holds(name, getattr(s, name)), (name, getattr(s, name))
    try:
        mqtt = MqttSettings.from_url("mqtt://127.0.0.1:1883", env={},
                                     config=read_config_file(directory))  # fmt: skip
    except ConfigError as exc:
        assert str(exc)
    else:
        for name in ("username", "password", "tls_ca_file"):
            assert getattr(mqtt, name) is None or isinstance(getattr(mqtt, name), str)
        assert isinstance(mqtt.keepalive_s, int) and 5 <= mqtt.keepalive_s <= 65535


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ('allowed_origins = {"chrome-extension://a" = 1}', "allowed_origins"),
        ('allowed_hosts = {h = "x"}', "allowed_hosts"),
    ],
)
def test_a_table_where_a_list_belongs_is_refused(tmp_path: Path, text: str, culprit: str) -> None:
    """A TOML table is not a list of names (it used to be taken as its keys, silently)."""
    (tmp_path / CONFIG_FILE).write_text(text + "\n")
    with pytest.raises(ConfigError, match=culprit):
        load_settings(tmp_path, env={})
