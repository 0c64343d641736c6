"""Where the music changed, from the mel frames: mel novelty on each hop, and the cut inside
a patch that split its segment on its own.

Both compare the newest frames with the segment's last few seconds (``REFERENCE_S``: local
enough to notice a new section, and cheap enough to run every hop at a fraction of a
millisecond) through :func:`~streamchill.analyzer.signal_checks.novelty`. Pure functions of
the mel ring and the segment bookkeeping, so the same frames give the same answers whatever
the chunking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamchill.analyzer.mel import FRAMES_PER_S, PATCH_FRAMES
from streamchill.analyzer.signal_checks import novelty

if TYPE_CHECKING:
    from streamchill.analyzer.config import AnalyzerConfig
    from streamchill.analyzer.ring import Ring
    from streamchill.analyzer.segments import SegmentTracker

REFERENCE_S = 8.0
"""The reference is at most the segment's last this-many seconds."""


def proposed_change(mel: Ring, segments: SegmentTracker, config: AnalyzerConfig) -> int | None:
    """Novelty: the mel frame where the last ~1.5 s of frames (``novelty_recent_s``) begin
    to differ from the segment before them, if they differ beyond ``novelty_threshold``."""
    recent_n = int(config.novelty_recent_s * FRAMES_PER_S)
    total = mel.total
    ref_n = min(total - recent_n - segments.reference_start, int(REFERENCE_S * FRAMES_PER_S))
    if ref_n < config.novelty_min_segment_s * FRAMES_PER_S:
        return None
    frames = mel.last(recent_n + ref_n)
    distance, offset = novelty(frames[:ref_n], frames[ref_n:])
    return total - recent_n + offset if distance > config.novelty_threshold else None


def cut_in_patch(mel: Ring, segments: SegmentTracker, start: int, config: AnalyzerConfig) -> int:
    """Where in the patch at mel frame ``start`` the music changed, in frames from its start:
    the point that best splits the old segment's last seconds and the patch (novelty's change
    point, found even when its distance stays under the threshold, as after a talk). 0 when
    the old segment left too little reference."""
    ref_start = max(segments.split_from or 0, start - int(REFERENCE_S * FRAMES_PER_S))
    frames = mel.since(ref_start)
    ref, patch = frames[: start - ref_start], frames[start - ref_start :][:PATCH_FRAMES]
    if len(ref) < config.novelty_min_segment_s * FRAMES_PER_S or len(patch) < PATCH_FRAMES:
        return 0
    return novelty(ref, patch)[1]


def talk_end_cut(
    mel: Ring, segments: SegmentTracker, start: int, config: AnalyzerConfig,
    logits: tuple[float, ...],
) -> int | None:  # fmt: skip
    """In speech, where in the patch at mel frame ``start`` the talk may have ended, in
    frames from its start: when the calibrated speech logit fell by ``talk_drop_logit`` or
    more from the patch before (``logits``: the segment's newest, oldest first), the cut
    novelty's change point finds in it, if any, but no later than ``talk_end_latest_s`` into
    it. The next patch is judged from there, not on the grid a whole patch later."""
    drop = config.talk_drop_logit
    if drop is None or len(logits) < 2 or logits[-2] - logits[-1] < drop:
        return None
    cut = cut_in_patch(mel, segments, start, config)
    return min(cut, round(config.talk_end_latest_s * FRAMES_PER_S)) if cut > 0 else None
