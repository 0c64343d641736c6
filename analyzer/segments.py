"""Which judged patches still count: the current *segment* of music and its youth.

A stream's window score aggregates the patches of the current segment only. When the mel
frames suggest a change of music (novelty), the change point is *proposed*; the first
patch judged after it confirms the change if the CNN judges it differently from the
segment so far, and only then do older patches stop counting. A patch judged very
differently without any mel novelty (speech and music can share a spectral envelope) also
starts a segment. For the first couple of patches of a new segment the state may move
without the usual dwell (the segment is *young*).

This bookkeeping is pure (no audio, no model): :class:`SegmentTracker` takes judged
patches and change proposals and answers which patches count, so it can be tested on its
own with made-up judgements.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from streamchill.analyzer.mel import FRAMES_PER_S, PATCH_FRAMES

YOUNG_SEGMENT_PATCHES = 2
"""After a change of music, the first two patches may move the state without the dwell:
the first one can still be tinged by the old music, the second settles it."""


@dataclass(frozen=True, slots=True)
class PatchResult:
    """The CNN's judgement of one 3 s patch."""

    start_frame: int
    """Absolute mel-frame index where the patch starts (62.5 frames per second)."""
    calm_logit: float
    speech_logit: float
    tags: np.ndarray
    level_db: float
    """Mean level of the patch's audio, dBFS: silent patches do not vote."""

    @property
    def start_s(self) -> float:
        # Frame k is centred on sample k*256.
        return self.start_frame / FRAMES_PER_S

    @property
    def end_s(self) -> float:
        return (self.start_frame + PATCH_FRAMES) / FRAMES_PER_S


Judge = Callable[[Sequence[PatchResult]], tuple[float, float]]
"""(calm, speech) window probabilities of a group of patches (the heads' aggregation)."""


class SegmentTracker:
    """The patches of the window, where the current segment starts, and whether it is young.

    ``judge`` turns a group of patches into (calm, speech) probabilities; it decides whether
    a new patch "judges the music differently" from the segment before it.
    """

    def __init__(
        self,
        *,
        judge: Judge,
        window_frames: int,
        max_patches: int,
        silence_db: float,
        confirm_delta: float,
        patch_change_delta: float,
    ) -> None:
        self._judge = judge
        self._window_frames = window_frames
        self._silence_db = silence_db
        self._confirm_delta = confirm_delta
        self._patch_change_delta = patch_change_delta
        self._patches: deque[PatchResult] = deque(maxlen=max_patches)
        self.start_frame = 0
        """Mel frame where the current segment begins."""
        self.pending_frame: int | None = None
        """A proposed change point that the next patch after it will confirm or reject."""
        self._young_left = 0

    @property
    def reference_start(self) -> int:
        """Where novelty should look back to: the proposed change if any, else the segment."""
        return self.pending_frame or self.start_frame

    @property
    def has_patches(self) -> bool:
        return bool(self._patches)

    def propose_change(self, frame: int) -> None:
        """Mel novelty saw a change of music at ``frame``; the next patch after it decides."""
        self.pending_frame = frame

    def add(self, patch: PatchResult) -> bool:
        """Record a judged patch; return whether it began a new segment."""
        began = False
        pending = self.pending_frame
        if pending is not None and patch.start_frame >= pending:
            self.pending_frame = None
            if self._differs(patch, self._confirm_delta):
                self.start_frame = pending
                began = True
        elif self._differs(patch, self._patch_change_delta):
            self.start_frame = patch.start_frame
            began = True
        self._patches.append(patch)
        return began

    def hop(self, *, new_segment: bool, judged: int) -> bool:
        """Account for one hop; return whether the segment is young (dwell waived).

        A segment is young for its first :data:`YOUNG_SEGMENT_PATCHES` patches, counted on
        the hops that judged patches.
        """
        if new_segment:
            self._young_left = YOUNG_SEGMENT_PATCHES
        young = self._young_left > 0 and judged > 0
        if young:
            self._young_left -= judged
        return young

    def current(self, end_frame: int) -> list[PatchResult]:
        """Audible patches of the current segment inside the window ending at ``end_frame``.

        When every such patch is silent, the newest one stands in (so a quiet stretch still
        has a judgement to report).
        """
        oldest = max(self.start_frame, end_frame - self._window_frames)
        inside = [p for p in self._patches if p.start_frame >= oldest]
        audible = [p for p in inside if p.level_db > self._silence_db]
        return audible or inside[-1:]

    def _differs(self, first_new: PatchResult, tol: float) -> bool:
        """Does this patch judge the music differently from the segment before it?

        Mel novelty also fires inside a track (a new section, a fill): about one hop in ten
        at the shipped threshold. Only when the CNN agrees that the music changed is the old
        evidence dropped; otherwise the segment simply continues, so a steady track keeps
        its steady estimate. The window is measured from the new patch's end, not from the
        frames held now, so the answer does not depend on how the audio was chunked.
        """
        old = self.current(first_new.start_frame + PATCH_FRAMES)
        if not old:
            return True
        old_calm, old_speech = self._judge(old)
        new_calm, new_speech = self._judge([first_new])
        return abs(new_calm - old_calm) > tol or abs(new_speech - old_speech) > tol
