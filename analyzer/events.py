"""The analyzer's output contract: :class:`MoodEvent`, with explicit JSON round-trip.

Every field states its unit. The JSON shape is described by
``analyzer/schema/events.schema.json``, which tests validate against.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streamchill.analyzer.errors import EventDecodeError

PROTOCOL_VERSION = 1


class MoodState(StrEnum):
    """What the music is doing now, after hysteresis."""

    WARMING_UP = "warming_up"
    CALM = "calm"
    NEUTRAL = "neutral"
    AGGRESSIVE = "aggressive"
    SILENCE = "silence"
    SPEECH = "speech"


@dataclass(frozen=True, slots=True)
class WindowFeatures:
    """Essentia features over the rolling window (the seed service's per-30 s fields)."""

    danceability: float
    """DFA danceability (Streich & Herrera 2005), essentia scale, about 0..3."""
    bpm: float
    """Tempo estimate in beats per minute; 0.0 when no pulse is found."""
    avg_db_deviation: float
    """Mean absolute deviation of short-term frame level from its mean, in dB."""
    loudness_db: float
    """Mean short-term level of the window, in dBFS (RMS)."""

    def to_dict(self) -> dict[str, float]:
        return {
            "danceability": _finite(self.danceability),
            "bpm": _finite(self.bpm),
            "avg_db_deviation": _finite(self.avg_db_deviation),
            "loudness_db": _finite(self.loudness_db, default=-120.0),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowFeatures:
        return cls(
            danceability=float(data["danceability"]),
            bpm=float(data["bpm"]),
            avg_db_deviation=float(data["avg_db_deviation"]),
            loudness_db=float(data["loudness_db"]),
        )


@dataclass(frozen=True, slots=True)
class MoodEvent:
    """One estimate for one stream, published every hop."""

    stream: str
    """Stream name chosen by the source (tab id, ``system``, file name)."""
    seq: int
    """Monotonic per stream, starting at 0."""
    media_time_s: float
    """Seconds of audio this stream has delivered when the estimate was made."""
    window_start_s: float
    """Media time where the evidence behind this estimate starts, in seconds."""
    window_end_s: float
    """Media time where the evidence ends (== media_time_s), in seconds."""
    state: MoodState
    changed: bool
    """True when ``state`` differs from the previous event's state."""
    warming_up: bool
    """True while the window holds less audio than needed for a settled estimate."""
    calm_probability: float | None
    """Calibrated probability in [0, 1] that the music is calm (0.5 = not sure); ``None``
    where calm is not judged: silence, speech, steady tones and noise (see
    :func:`calm_is_judged`). Calibrated for music the judgement never saw, so it may be
    flatter than the decision probability ``state`` was decided on (``analyzer/heads.py``):
    a ``calm`` event can carry less than the 0.6 calm is entered at."""
    speech_probability: float
    """Probability in [0, 1] that the audio is someone talking rather than music."""
    features: WindowFeatures
    top_tags: tuple[tuple[str, float], ...] = ()
    """The musicnn tags with the highest mean probability over the window."""
    reason: str | None = None
    """Why a non-obvious state was chosen (``steady_tone``, ``noise``, ``music_change``...)."""
    model_version: str = ""
    type: str = field(default="mood", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "v": PROTOCOL_VERSION,
            "stream": self.stream,
            "seq": self.seq,
            "media_time_s": round(self.media_time_s, 3),
            "window_start_s": round(self.window_start_s, 3),
            "window_end_s": round(self.window_end_s, 3),
            "state": self.state.value,
            "changed": self.changed,
            "warming_up": self.warming_up,
            "calm_probability": None
            if self.calm_probability is None
            else round(_finite(self.calm_probability, 0.5), 4),
            "speech_probability": round(_finite(self.speech_probability), 4),
            "features": self.features.to_dict(),
            "top_tags": [[tag, round(p, 4)] for tag, p in self.top_tags],
            "reason": self.reason,
            "model_version": self.model_version,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MoodEvent:
        try:
            if data.get("type") != "mood":
                raise EventDecodeError(f"not a mood event: type={data.get('type')!r}")
            if data.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
                raise EventDecodeError(f"unsupported event version {data.get('v')!r}")
            return cls(
                stream=str(data["stream"]),
                seq=int(data["seq"]),
                media_time_s=float(data["media_time_s"]),
                window_start_s=float(data["window_start_s"]),
                window_end_s=float(data["window_end_s"]),
                state=MoodState(data["state"]),
                changed=bool(data["changed"]),
                warming_up=bool(data["warming_up"]),
                calm_probability=None
                if data["calm_probability"] is None
                else float(data["calm_probability"]),
                speech_probability=float(data["speech_probability"]),
                features=WindowFeatures.from_dict(data["features"]),
                top_tags=tuple((str(t), float(p)) for t, p in data.get("top_tags", [])),
                reason=data.get("reason"),
                model_version=str(data.get("model_version", "")),
            )
        except EventDecodeError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise EventDecodeError(f"malformed mood event: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> MoodEvent:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EventDecodeError(f"mood event is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EventDecodeError("mood event must be a JSON object")
        return cls.from_dict(data)


STEADY_REASONS = frozenset({"steady_tone", "noise"})
"""``reason`` values of a neutral state that is not music at all."""


def calm_is_judged(state: MoodState, reason: str | None = None) -> bool:
    """Whether a calm probability means anything for this state.

    Calm vs aggressive is a judgement of music: for silence, someone talking, or a steady
    tone or noise there is none, and a number there would only invite automations to act
    on it.
    """
    if state in (MoodState.SILENCE, MoodState.SPEECH):
        return False
    return not (state is MoodState.NEUTRAL and reason in STEADY_REASONS)


def _finite(x: float, default: float = 0.0) -> float:
    """JSON has no NaN/inf; map them to a documented default instead of emitting invalid JSON."""
    return float(x) if math.isfinite(x) else default
