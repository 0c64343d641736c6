"""Wire messages of protocol v1 other than mood events: small typed records.

Every record has ``to_dict()``/``to_json()`` and a validating ``from_dict()``; text that
arrives from a client goes through :func:`parse_client_text`, which either returns a
record or raises :class:`MessageError` whose ``code`` is one of :data:`ERROR_CODES`.
Nothing else escapes it, whatever the bytes. The JSON shapes are described by
``streamer/schema/protocol.schema.json``; mood events by ``analyzer/schema/events.schema.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from streamchill.analyzer.audio import MAX_CHANNELS, MAX_RATE_HZ, MIN_RATE_HZ, SampleFormat
from streamchill.analyzer.events import MoodEvent
from streamchill.streamer.errors import ProtocolError

PROTOCOL_VERSION = 1

MAX_TEXT_BYTES = 64 * 1024
"""Largest JSON text message accepted from a client, in bytes (UTF-8)."""
MAX_TITLE_CHARS = 512
MAX_URL_CHARS = 2048
MAX_STREAMS_PER_SUBSCRIBE = 64
STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
"""Stream names: ASCII, 1..128 chars, safe in URLs and MQTT topics (no ``/``, ``+``, ``#``)."""

ERROR_CODES: dict[str, str] = {
    "bad_json": "the text is not a UTF-8 JSON object (or is larger than 64 KiB)",
    "unknown_type": "the message's `type` is missing, unknown or not allowed here",
    "unsupported_version": "`v` is present and is not 1",
    "bad_hello": "a hello field is missing or of the wrong type, or audio came before hello",
    "unsupported_format": "sample_rate_hz, channels or sample_format is outside what we accept",
    "bad_message": "a control message's field is missing or of the wrong type",
    "bad_frame": "a binary frame is empty or holds NaN/Inf samples; it was dropped",
    "busy": "the stream name is in use, or the daemon holds its maximum of streams",
    "timeout": "no hello arrived in time",
    "too_many_errors": "the client kept sending bad input; the connection is closed",
    "analysis_failed": "the analyzer could not process this stream (see the daemon log)",
}
"""Every ``code`` an ``error`` message may carry, with what it means."""


class MessageError(ProtocolError):
    """A client message was rejected; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- field checks


def _int(data: dict[str, Any], key: str, code: str, *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    return _as_int(value, code, key)


def _as_int(value: Any, code: str, what: str) -> int:
    # 48000.0 is an integer to JSON Schema (and to JavaScript); true is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageError(code, f"`{what}` must be an integer, got {_show(value)}")
    return value


def _str(
    data: dict[str, Any], key: str, code: str, *, max_chars: int, required: bool = False
) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise MessageError(code, f"`{key}` must be a string, got {_show(value)}")
    if len(value) > max_chars:
        raise MessageError(code, f"`{key}` is longer than {max_chars} characters")
    return value


def _stream_name(value: Any, code: str, what: str = "stream") -> str:
    if not isinstance(value, str) or not STREAM_NAME.fullmatch(value):
        raise MessageError(
            code,
            f"`{what}` must be 1..128 ASCII letters, digits or ._:@- (starting with a letter "
            f"or digit), got {_show(value)}",
        )
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_version(data: dict[str, Any]) -> None:
    v = data.get("v", PROTOCOL_VERSION)
    if isinstance(v, bool) or v != PROTOCOL_VERSION:
        raise MessageError("unsupported_version", f"protocol version {_show(v)} is not 1")


# ---------------------------------------------------------------- client -> server


@dataclass(frozen=True, slots=True)
class Hello:
    """Opens an ingest stream on ``/v1/audio``: names it and declares its PCM layout."""

    type: ClassVar[str] = "hello"
    stream: str
    sample_rate_hz: int
    channels: int
    sample_format: SampleFormat
    title: str | None = None
    """Page title, shown by subscribers; at most 512 characters."""
    url: str | None = None
    """Page URL; at most 2048 characters."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "v": PROTOCOL_VERSION,
            "stream": self.stream,
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "sample_format": self.sample_format.value,
        }
        if self.title is not None:
            out["title"] = self.title
        if self.url is not None:
            out["url"] = self.url
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hello:
        stream = _stream_name(data.get("stream"), "bad_hello")
        rate = _int(data, "sample_rate_hz", "bad_hello")
        channels = _int(data, "channels", "bad_hello")
        fmt = data.get("sample_format")
        assert rate is not None and channels is not None
        if not isinstance(fmt, str):
            raise MessageError("bad_hello", f"`sample_format` must be a string, got {_show(fmt)}")
        if fmt not in {f.value for f in SampleFormat}:
            raise MessageError(
                "unsupported_format", f"sample_format {_show(fmt)} is not one of f32le, s16le"
            )
        if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
            raise MessageError(
                "unsupported_format",
                f"sample_rate_hz={rate} is outside {MIN_RATE_HZ}..{MAX_RATE_HZ}",
            )
        if not 1 <= channels <= MAX_CHANNELS:
            raise MessageError(
                "unsupported_format", f"channels={channels} is outside 1..{MAX_CHANNELS}"
            )
        return cls(
            stream=stream,
            sample_rate_hz=rate,
            channels=channels,
            sample_format=SampleFormat(fmt),
            title=_str(data, "title", "bad_hello", max_chars=MAX_TITLE_CHARS),
            url=_str(data, "url", "bad_hello", max_chars=MAX_URL_CHARS),
        )

    @property
    def bytes_per_second(self) -> int:
        """Bytes of PCM one second of this stream takes on the wire."""
        return self.sample_rate_hz * self.channels * self.sample_format.bytes_per_sample


@dataclass(frozen=True, slots=True)
class Bye:
    """Ends an ingest stream cleanly: the session is finished, its last event published."""

    type: ClassVar[str] = "bye"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "v": PROTOCOL_VERSION}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bye:
        return cls()


@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness check; answered with :class:`Pong`."""

    type: ClassVar[str] = "ping"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "v": PROTOCOL_VERSION}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ping:
        return cls()


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Changes a subscriber's stream filter and asks for replay of missed events."""

    type: ClassVar[str] = "subscribe"
    streams: frozenset[str] | None = None
    """Stream names to receive; ``None`` means every stream."""
    since: tuple[tuple[str, int], ...] = ()
    """(stream, seq) pairs: replay every held event of that stream with a larger seq."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "v": PROTOCOL_VERSION,
            "streams": None if self.streams is None else sorted(self.streams),
            "since": dict(self.since),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subscribe:
        raw = data.get("streams")
        streams: frozenset[str] | None = None
        if raw is not None:
            if not isinstance(raw, list) or len(raw) > MAX_STREAMS_PER_SUBSCRIBE:
                raise MessageError(
                    "bad_message",
                    f"`streams` must be null or a list of at most {MAX_STREAMS_PER_SUBSCRIBE} "
                    "stream names",
                )
            streams = frozenset(_stream_name(s, "bad_message", "streams[]") for s in raw)
        raw_since = data.get("since", {})
        if raw_since is None:
            raw_since = {}
        if not isinstance(raw_since, dict) or len(raw_since) > MAX_STREAMS_PER_SUBSCRIBE:
            raise MessageError(
                "bad_message", "`since` must be an object mapping stream names to seq numbers"
            )
        since = []
        for name, seq in raw_since.items():
            _stream_name(name, "bad_message", "since key")
            value = _as_int(seq, "bad_message", f"since[{name}]")
            if value < -1:
                raise MessageError("bad_message", f"`since[{name}]` must be >= -1, got {value}")
            since.append((name, value))
        return cls(streams=streams, since=tuple(sorted(since)))


ClientMessage = Hello | Bye | Ping | Subscribe
CLIENT_TYPES: dict[str, type[Hello] | type[Bye] | type[Ping] | type[Subscribe]] = {
    "hello": Hello,
    "bye": Bye,
    "ping": Ping,
    "subscribe": Subscribe,
}
AUDIO_START = frozenset({"hello"})
"""What ``/v1/audio`` accepts before ``ready``."""
AUDIO_STREAMING = frozenset({"bye", "ping"})
"""What ``/v1/audio`` accepts between audio frames."""
EVENTS_CONTROL = frozenset({"subscribe", "ping"})
"""What ``/v1/events`` accepts from a subscriber."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_client_text(text: str | bytes, *, allowed: frozenset[str]) -> ClientMessage:
    """Decode one client text message; raise :class:`MessageError`, never anything else."""
    if len(text) > MAX_TEXT_BYTES:
        raise MessageError("bad_json", f"message is larger than {MAX_TEXT_BYTES} bytes")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise MessageError("bad_json", f"not valid JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict):
        raise MessageError("bad_json", "a message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in allowed:
        expected = ", ".join(sorted(allowed))
        raise MessageError(
            "unknown_type", f"message type {_show(kind)} is not allowed here (expected {expected})"
        )
    _check_version(data)
    return CLIENT_TYPES[kind].from_dict(data)


# ---------------------------------------------------------------- server -> client


@dataclass(frozen=True, slots=True)
class Ready:
    """The ingest stream is open; send audio."""

    type: ClassVar[str] = "ready"
    stream: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "v": PROTOCOL_VERSION, "stream": self.stream}


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """Why the server refused something; ``code`` is one of :data:`ERROR_CODES`."""

    type: ClassVar[str] = "error"
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "v": PROTOCOL_VERSION,
            "code": self.code,
            "message": self.message,
        }

    @classmethod
    def from_exception(cls, exc: MessageError) -> ErrorMessage:
        return cls(code=exc.code, message=exc.message)


@dataclass(frozen=True, slots=True)
class WarningMessage:
    """Something was lost but the stream goes on (``dropped_audio``: frames dropped)."""

    type: ClassVar[str] = "warning"
    code: str
    frames: int
    """How many binary frames were dropped since the last warning."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "v": PROTOCOL_VERSION, "code": self.code, "frames": self.frames}


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to :class:`Ping`."""

    type: ClassVar[str] = "pong"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "v": PROTOCOL_VERSION}


@dataclass(frozen=True, slots=True)
class Welcome:
    """First message to a subscriber: who we are and which streams are live."""

    type: ClassVar[str] = "welcome"
    server: str
    streams: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "v": PROTOCOL_VERSION,
            "server": self.server,
            "streams": list(self.streams),
        }


@dataclass(frozen=True, slots=True)
class StreamStart:
    """A stream began (an extension tab, system capture); published through the hub."""

    type: ClassVar[str] = "stream_start"
    stream: str
    title: str | None = None
    url: str | None = None
    source: str = "extension"
    """Where the audio comes from: ``extension`` (``/v1/audio`` from an allowed extension
    Origin), ``client`` (``/v1/audio`` with the token: ``streamchill send``, scripts) or
    ``capture`` (the daemon's own system capture)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "v": PROTOCOL_VERSION,
            "stream": self.stream,
            "title": self.title,
            "url": self.url,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """A stream ended; ``last_seq`` is its last mood event's seq (``None``: it had none)."""

    type: ClassVar[str] = "stream_end"
    stream: str
    last_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "v": PROTOCOL_VERSION,
            "stream": self.stream,
            "last_seq": self.last_seq,
        }


HubMessage = MoodEvent | StreamStart | StreamEnd
"""What the hub fans out to subscribers."""
ServerMessage = Ready | ErrorMessage | WarningMessage | Pong | Welcome | StreamStart | StreamEnd


def to_json(message: ServerMessage | ClientMessage | MoodEvent) -> str:
    """Compact JSON text of any protocol record."""
    return json.dumps(message.to_dict(), separators=(",", ":"), allow_nan=False)
