"""Protocol records on bytes: every client text is accepted or refused with a documented code,
the parser agrees with the JSON Schema, and everything the server sends validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchill.analyzer.audio import SampleFormat
from streamchill.streamer.server.messages import (
    AUDIO_START,
    AUDIO_STREAMING,
    ERROR_CODES,
    EVENTS_CONTROL,
    Bye,
    ErrorMessage,
    Hello,
    MessageError,
    Ping,
    Pong,
    Ready,
    StreamEnd,
    StreamStart,
    Subscribe,
    WarningMessage,
    Welcome,
    parse_client_text,
    to_json,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "streamer" / "schema" / "protocol.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
ALL_CLIENT = AUDIO_START | AUDIO_STREAMING | EVENTS_CONTROL

HELLO = {
    "type": "hello",
    "v": 1,
    "stream": "tab-42",
    "sample_rate_hz": 48000,
    "channels": 2,
    "sample_format": "f32le",
}


def valid(message: dict[str, Any]) -> bool:
    return VALIDATOR.is_valid(message)


def test_a_hello_round_trips() -> None:
    text = json.dumps({**HELLO, "title": "Lofi beats", "url": "https://example.com/watch"})
    hello = parse_client_text(text, allowed=AUDIO_START)
    assert hello == Hello(
        stream="tab-42",
        sample_rate_hz=48000,
        channels=2,
        sample_format=SampleFormat.F32LE,
        title="Lofi beats",
        url="https://example.com/watch",
    )
    assert isinstance(hello, Hello) and hello.bytes_per_second == 48000 * 2 * 4
    assert parse_client_text(to_json(hello), allowed=AUDIO_START) == hello
    assert valid(hello.to_dict())


def test_a_subscribe_round_trips() -> None:
    text = '{"type":"subscribe","v":1,"streams":["a","b"],"since":{"a":41}}'
    sub = parse_client_text(text, allowed=EVENTS_CONTROL)
    assert sub == Subscribe(streams=frozenset({"a", "b"}), since=(("a", 41),))
    assert parse_client_text(to_json(sub), allowed=EVENTS_CONTROL) == sub
    everything = parse_client_text('{"type":"subscribe","streams":null}', allowed=EVENTS_CONTROL)
    assert everything == Subscribe(streams=None, since=())


def test_extra_fields_from_newer_clients_are_ignored() -> None:
    hello = parse_client_text(json.dumps({**HELLO, "future": [1, 2]}), allowed=AUDIO_START)
    assert isinstance(hello, Hello)


@pytest.mark.parametrize(
    ("text", "allowed", "code"),
    [
        ("", AUDIO_START, "bad_json"),
        ("not json", AUDIO_START, "bad_json"),
        (b"\xff\xfe", AUDIO_START, "bad_json"),
        ("[1, 2]", AUDIO_START, "bad_json"),
        ("[" * 100_000, AUDIO_START, "bad_json"),
        ("[" * 20_000 + "]" * 20_000, AUDIO_START, "bad_json"),
        ('{"type":"hello","sample_rate_hz":NaN}', AUDIO_START, "bad_json"),
        ('{"type":"mood"}', AUDIO_START, "unknown_type"),
        ('{"no":"type"}', AUDIO_START, "unknown_type"),
        ('{"type":"bye"}', AUDIO_START, "unknown_type"),
        ('{"type":"hello"}', EVENTS_CONTROL, "unknown_type"),
        (json.dumps({**HELLO, "v": 2}), AUDIO_START, "unsupported_version"),
        (json.dumps({**HELLO, "v": True}), AUDIO_START, "unsupported_version"),
        (json.dumps({**HELLO, "stream": ""}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "stream": "a/b"}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "stream": "a\n"}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "stream": "x" * 129}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "sample_rate_hz": "48000"}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "channels": True}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "title": 5}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "title": "t" * 513}), AUDIO_START, "bad_hello"),
        (json.dumps({**HELLO, "sample_format": "u8"}), AUDIO_START, "unsupported_format"),
        (json.dumps({**HELLO, "sample_rate_hz": 4000}), AUDIO_START, "unsupported_format"),
        (json.dumps({**HELLO, "channels": 9}), AUDIO_START, "unsupported_format"),
        ('{"type":"subscribe","streams":"a"}', EVENTS_CONTROL, "bad_message"),
        ('{"type":"subscribe","since":{"a":-2}}', EVENTS_CONTROL, "bad_message"),
        ('{"type":"subscribe","since":{"a":"41"}}', EVENTS_CONTROL, "bad_message"),
        ('{"type":"subscribe","since":[1]}', EVENTS_CONTROL, "bad_message"),
        ('{"type":"subscribe","since":{"a":1e400}}', EVENTS_CONTROL, "bad_message"),
    ],
)
def test_bad_client_text_is_refused_with_a_documented_code(
    text: str | bytes, allowed: frozenset[str], code: str
) -> None:
    with pytest.raises(MessageError) as info:
        parse_client_text(text, allowed=allowed)
    assert info.value.code == code
    assert info.value.message  # something a person can read


def test_oversized_text_is_refused_before_parsing() -> None:
    text = json.dumps({**HELLO, "title": "x" * 70_000})
    with pytest.raises(MessageError) as info:
        parse_client_text(text, allowed=AUDIO_START)
    assert info.value.code == "bad_json"


def test_every_server_message_validates_against_the_schema() -> None:
    messages = [
        Ready(stream="tab-1"),
        ErrorMessage(code="bad_frame", message="frame holds NaN"),
        WarningMessage(code="dropped_audio", frames=3),
        Pong(),
        Welcome(server="streamchill/0.1.0", streams=("a", "system")),
        StreamStart(stream="a", title=None, url=None, source="capture"),
        StreamStart(stream="a", title="T", url="https://x", source="extension"),
        StreamEnd(stream="a", last_seq=None),
        StreamEnd(stream="a", last_seq=12),
        Bye(),
        Ping(),
    ]
    for message in messages:
        errors = list(VALIDATOR.iter_errors(json.loads(to_json(message))))
        assert not errors, (message, errors)


def test_the_schema_lists_exactly_the_documented_error_codes() -> None:
    enum = SCHEMA["$defs"]["error"]["properties"]["code"]["enum"]
    assert sorted(enum) == sorted(ERROR_CODES)
    protocol_md = (ROOT / "docs" / "protocol.md").read_text()
    assert all(f"`{code}`" in protocol_md for code in ERROR_CODES)


@given(st.binary(max_size=2048) | st.text(max_size=2048))
@settings(max_examples=400, deadline=None)
def test_any_bytes_are_accepted_or_refused_with_a_documented_code(data: bytes | str) -> None:
    try:
        message = parse_client_text(data, allowed=ALL_CLIENT)
    except MessageError as exc:
        assert exc.code in ERROR_CODES
    else:
        assert message.type in ALL_CLIENT


# JSON Schema's `$` (Python's re.search) also matches before a final newline, so a name
# ending in "\n" is refused by the parser but not by the schema: leave those out here
# (test_bad_client_text_is_refused_with_a_documented_code covers them).
NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,130}", fullmatch=True) | st.text(
    max_size=8
).filter(lambda t: not t.endswith("\n"))
ANY_VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.lists(st.integers(), max_size=2)
)


@st.composite
def hello_like(draw: st.DrawFn) -> dict[str, Any]:
    """Hello dicts whose fields are sometimes right, sometimes missing, sometimes wrong."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "type": st.sampled_from(["hello", "hello", "bye", "x"]),
        "v": st.sampled_from([1, 1, 2, 1.0, True]),
        "stream": NAMES,
        "sample_rate_hz": st.integers(7000, 200_000) | st.sampled_from([48000.0, 44100.5]),
        "channels": st.integers(-1, 10) | st.just(2.0),
        "sample_format": st.sampled_from(["f32le", "s16le", "u8", "F32LE"]),
        "title": st.none() | st.text(max_size=600),
        "url": st.none() | st.text(max_size=30),
    }
    out = {}
    for key, strategy in fields.items():
        choice = draw(st.sampled_from(["keep", "keep", "keep", "drop", "junk"]))
        if choice == "keep":
            out[key] = draw(strategy)
        elif choice == "junk":
            out[key] = draw(ANY_VALUE)
    return out


@given(hello_like())
@settings(max_examples=300, deadline=None)
def test_the_hello_parser_accepts_exactly_what_the_schema_accepts(data: dict[str, Any]) -> None:
    try:
        parse_client_text(json.dumps(data), allowed=AUDIO_START)
        accepted = True
    except MessageError as exc:
        assert exc.code in ERROR_CODES
        accepted = False
    assert accepted == (valid(data) and data.get("type") == "hello"), data


@given(
    st.fixed_dictionaries(
        {"type": st.just("subscribe")},
        optional={
            "streams": st.none() | st.lists(NAMES, max_size=3) | ANY_VALUE,
            "since": st.none()
            | st.dictionaries(NAMES, st.integers(-3, 10**6) | ANY_VALUE, max_size=3)
            | ANY_VALUE,
        },
    )
)
@settings(max_examples=400, deadline=None)
def test_the_subscribe_parser_accepts_exactly_what_the_schema_accepts(
    data: dict[str, Any],
) -> None:
    try:
        parse_client_text(json.dumps(data), allowed=EVENTS_CONTROL)
        accepted = True
    except MessageError as exc:
        assert exc.code in ERROR_CODES
        accepted = False
    assert accepted == valid(data), data


@given(
    st.binary(max_size=3000),
    st.lists(st.integers(1, 700), max_size=12),
    st.integers(1, 8),
    st.sampled_from(list(SampleFormat)),
)
@settings(max_examples=300, deadline=None)
def test_pcm_frames_split_anywhere_come_out_aligned_and_whole(
    data: bytes, cuts: list[int], channels: int, fmt: SampleFormat
) -> None:
    """Any PCM bytes cut into any frames: every accepted chunk is whole sample frames, and
    a refused frame (empty, NaN/Inf) raises ValueError only, never shifting what follows."""
    from streamchill.streamer.server.ingest import FrameAligner

    aligner = FrameAligner(fmt, channels)
    frame = channels * fmt.bytes_per_sample
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start : start + cut])
        start += cut
    pieces.append(data[start:])
    consumed = 0
    for piece in pieces:
        try:
            chunk = aligner.push(piece)
        except ValueError:
            continue
        finally:
            consumed += len(piece)
        assert len(chunk) % frame == 0
        if chunk:  # an accepted chunk is exactly the bytes at its place in the stream
            end = consumed - len(aligner.carry)
            assert chunk == data[end - len(chunk) : end]
    assert len(aligner.carry) < frame
