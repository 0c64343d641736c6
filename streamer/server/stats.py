"""The daemon's own counters, served on ``/v1/stats`` so users and the soak see one truth.

Plain integers mutated on the event loop thread only (the capture callback and analysis
workers hand their counts over with ``call_soon_threadsafe``), so no locks are needed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class Stats:
    """Counters (monotonic totals) and gauges (current values) of one daemon run."""

    streams: int = 0
    """Gauge: streams live now (ingest connections and capture)."""
    streams_total: int = 0
    """Streams ever started."""
    frames_in: int = 0
    """Binary audio frames (or capture blocks) accepted."""
    bytes_in: int = 0
    """PCM bytes accepted."""
    frames_dropped: int = 0
    """Frames dropped because a stream's analysis queue was full."""
    frames_rejected: int = 0
    """Frames refused as malformed (NaN/Inf, empty)."""
    overflows: int = 0
    """Capture input overflows reported by the audio device."""
    capture_restarts: int = 0
    """Times the capture stream was closed and reopened after a failure or stall."""
    events_published: int = 0
    """Mood events the analyzer produced and the hub accepted."""
    events_out: int = 0
    """Messages handed to subscribers' queues (one per subscriber per message)."""
    subscribers: int = 0
    """Gauge: subscribers connected now (WebSocket and internal, e.g. MQTT)."""
    subscribers_dropped: int = 0
    """Subscribers dropped because their queue was full."""
    mqtt_reconnects: int = 0
    """Times the MQTT publisher reconnected to its broker."""
    errors_sent: int = 0
    """``error`` messages sent to clients."""
    http_refused: int = 0
    """Requests refused with 403 (Origin, Host or token)."""
    patches_student: int = 0
    """3 s patches judged by the distilled student alone (``analyzer/cascade.py``)."""
    patches_teacher: int = 0
    """Patches musicnn judged (maybe speech, a close change, audits, fallbacks)."""
    teacher_audits: int = 0
    teacher_disagreements: int = 0
    """Audits whose student and musicnn judgements differed beyond the tolerance."""
    teacher_fallbacks: int = 0
    """Times a stream went back to musicnn on every patch after a disagreement."""
    started_monotonic: float = field(default_factory=time.monotonic, repr=False)

    def add_patches(self, delta: dict[str, int]) -> None:
        """Add a stream's new cascade counts (``CascadeCounts.as_dict`` differences)."""
        self.patches_student += delta.get("student", 0)
        self.patches_teacher += delta.get("teacher", 0)
        self.teacher_audits += delta.get("audits", 0)
        self.teacher_disagreements += delta.get("disagreements", 0)
        self.teacher_fallbacks += delta.get("fallbacks", 0)

    def as_dict(self) -> dict[str, float]:
        """Every counter plus ``uptime_s``, ready for JSON."""
        out: dict[str, float] = {k: v for k, v in asdict(self).items() if k != "started_monotonic"}
        out["uptime_s"] = round(time.monotonic() - self.started_monotonic, 3)
        return out
