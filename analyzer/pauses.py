"""Is this hop a pause (silence, a steady tone or noise), and has the pause lasted long
enough that the music after it is judged on its own?

A pause is what the state reports as ``silence`` or ``neutral`` with a ``steady_tone`` or
``noise`` reason, never a judgement of music. Inside music the state has judged, a rest
must last ``music_rest_s`` to be silence and noise must be confirmed over
``noise_confirm_hops`` hops: a decay or a hop of soft strings is the piece. A pause of
``pause_ends_segment_s`` or more ends the piece's segment (``SegmentTracker.restart_after``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamchill.analyzer.features import level_db
from streamchill.analyzer.mel import FRAMES_PER_S, PATCH_FRAMES
from streamchill.analyzer.signal_checks import steady_kind

if TYPE_CHECKING:
    from streamchill.analyzer.config import AnalyzerConfig
    from streamchill.analyzer.ring import Ring


class PauseWatch:
    """A stream's pauses, hop by hop: pure bookkeeping on mel-frame indices."""

    def __init__(self, config: AnalyzerConfig) -> None:
        self._config = config
        self._noise_hops = 0
        """Hops in a row whose noise check passed (``noise_confirm_hops``)."""
        self._since: int | None = None
        """Mel frame of the first hop of the pause under way (None: no pause)."""
        self.quiet_until = 0
        """Mel frame of the newest hop that was silent or a steady tone."""

    def check(self, mel: Ring, power: Ring, *, settled: bool) -> tuple[bool, str | None]:
        """(silent, steady kind or None) of the hop ending with the newest frames; inside a
        settled mood (``settled``) a rest and noise must last longer to count."""
        c = self._config
        span = power.last(int((c.music_rest_s if settled else c.silence_span_s) * FRAMES_PER_S))
        silent = len(span) == 0 or float(level_db(float(span.max()))) < c.silence_db
        kind = None if silent else steady_kind(mel.last(PATCH_FRAMES), c)
        self._noise_hops = self._noise_hops + 1 if kind == "noise" else 0
        if kind == "noise" and self._noise_hops < c.noise_confirm_hops and settled:
            kind = None  # inside judged music a hop or two of it is soft music, not noise
        return silent, kind

    def note(self, quiet: bool, frame: int) -> int | None:
        """Record whether the hop ending at mel ``frame`` was a pause. Once a pause has
        lasted ``pause_ends_segment_s``: the frame from which a patch begins a new segment
        (holding at least half a patch of what follows, as the pause's end is judged:
        ``Observation.stale``); else None."""
        if not quiet:
            self._since = None
            return None
        self.quiet_until = frame
        if self._since is None:
            self._since = frame
        limit = self._config.pause_ends_segment_s
        if limit is not None and frame - self._since >= limit * FRAMES_PER_S:
            return frame - PATCH_FRAMES // 2
        return None
