"""The WebSocket edge, fed whatever hypothesis can think of, over a real socket: any first
message on ``/v1/audio``, PCM of any layout split anywhere, any control messages on
``/v1/events``. The rule: an input is either accepted or refused with a documented error;
nothing else escapes (the server is watched, see tests/support/fuzz.py). test_messages.py
checks the same parsers on bytes, without sockets.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from streamchill.analyzer.audio import SampleFormat
from streamchill.streamer.server.messages import (
    EVENTS_CONTROL,
    MessageError,
    Ping,
    parse_client_text,
)
from tests.support.fuzz import (
    ANY_JSON,
    FUZZ,
    T,
    WatchedServer,
    assert_documented,
    client,
    fresh_name,
    replies,
    watched,
)

__all__ = ["watched"]


def test_the_watch_sees_a_task_exception_nobody_retrieved(watched: WatchedServer) -> None:
    """The check the other tests rely on: a task that dies unobserved is caught."""

    async def doomed() -> None:
        raise RuntimeError("boom")

    async def spawn() -> None:
        task = watched.loop.create_task(doomed())
        await asyncio.wait([task], timeout=T)  # done; its exception stays unretrieved

    watched.run(spawn())
    with pytest.raises(AssertionError, match="never retrieved"):
        watched.assert_nothing_escaped(collect=True)
    watched.escaped.clear()


# -- the audio hello, over a real socket -------------------------------------------------

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
@example(first="{")  # text that looks like JSON and is not (found by a CI run)
@FUZZ
def test_any_first_message_gets_ready_or_a_documented_error_and_close(
    watched: WatchedServer, first: str | bytes
) -> None:
    if isinstance(first, str) and first.startswith("{"):
        try:
            data = json.loads(first)
        except json.JSONDecodeError:
            data = None  # not JSON: sent as it is, the daemon must answer bad_json
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
