"""Which judged patches still count: the current *segment* of music and its youth.

A stream's window score aggregates the patches of the current segment only. When the mel
frames suggest a change of music (novelty), the change point is *proposed*; the first
patch judged after it splits the segment *tentatively* if the CNN judges it differently
from the segment so far, and the next patch (judged half a hop later, not a whole patch
later) decides: if it too differs from the old segment the change is confirmed and older
patches stop counting; if not, nothing changed and the piece keeps its evidence (a new
section or a fill inside one track is not a new track). A patch judged very differently
without any mel novelty (speech and music can share a spectral envelope) splits the same
way, and so does a patch that could not be speech after one that could (or the other way
round): the head's speech probability saturates on music as near 1.0 as on a talk, so a
talk followed by music it is unsure of would otherwise stay one segment, and the talk's
calm judgements would decide the music's mood. A cut that novelty misses and whose first
patch straddles it moves the judgement by less: a patch beyond a smaller *drift* delta is a
*suspect*, the next patch is judged soon after it (not skipped while settled), and if that
one too lies beyond the drift delta on the same side of the old segment, the segment
begins at the suspect. Patches that are silent or a steady tone
never vote and never decide a change: a
pause inside a piece does not drop the piece's evidence. For the first couple of patches
of a confirmed segment the state may move without the usual dwell (the segment is
*young*).

This bookkeeping is pure (no audio, no model): :class:`SegmentTracker` takes judged
patches and change proposals and answers which patches count, so it can be tested on its
own with made-up judgements.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streamchill.analyzer.mel import FRAMES_PER_S, PATCH_FRAMES

if TYPE_CHECKING:
    from streamchill.analyzer.heads import LogisticHead

SPEECH_EVIDENCE_PATCHES = 4
"""The state machine reads a run of at most a few newest patches (``speech_confirm_patches``)."""
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
    steady: bool = False
    """The patch is a steady tone, hum or noise: it does not vote either."""
    speech_pauses: float = 0.0
    """Share of the patch's frames that pause as speech does, 0..1
    (``speech_cues.pause_share``): evidence of a voice the speech head never heard."""

    @property
    def start_s(self) -> float:
        # Frame k is centred on sample k*256.
        return self.start_frame / FRAMES_PER_S

    @property
    def end_s(self) -> float:
        return (self.start_frame + PATCH_FRAMES) / FRAMES_PER_S


Judge = Callable[[Sequence[PatchResult]], tuple[float, float]]
"""(calm, speech) window probabilities of a group of patches (the heads' aggregation)."""
SpeechLike = Callable[[PatchResult], bool]
"""Could this patch be speech (``hysteresis.patch_could_be_speech``)?"""


class SegmentTracker:
    """The patches of the window, where the current segment starts, and whether it is young.

    ``judge`` turns a group of patches into (calm, speech) probabilities; it decides whether
    a new patch "judges the music differently" from the segment before it, and so does
    ``speech_like`` when given (whether one patch could be speech).
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
        speech_like: SpeechLike | None = None,
        second_patch_frames: int | None = None,
        drift_delta: float | None = None,
        drift_confirm_frames: int | None = None,
        look_in_talk: bool = False,
    ) -> None:
        self._judge = judge
        self._speech_like = speech_like
        self._window_frames = window_frames
        self._silence_db = silence_db
        self._confirm_delta = confirm_delta
        self._patch_change_delta = patch_change_delta
        self._second_patch_frames = second_patch_frames
        self._drift_delta = drift_delta
        self._drift_confirm_frames = drift_confirm_frames
        self._look_in_talk = look_in_talk
        self._suspect: tuple[PatchResult, float] | None = None
        """A patch beyond the drift delta and the way it moved the calm judgement (+1 or
        -1), until the next patch confirms or clears it."""
        self._patches: deque[PatchResult] = deque(maxlen=max_patches)
        self.start_frame = 0
        """Mel frame where the current segment begins."""
        self.pending_frame: int | None = None
        """A proposed change point that the next patch after it will confirm or reject."""
        self._split_from: int | None = None
        """While a split awaits its second patch: where the segment before it began."""
        self._split_cut: int | None = None
        """Where the caller placed the cut of a split that no novelty proposed
        (:meth:`place_split`): the deciding patch starts there, and so does the segment."""
        self.unplaced_split = False
        """The newest patch split the segment on its own, with no proposed change point: the
        cut lies somewhere inside it, and the caller may place it (:meth:`place_split`)."""
        self._young_left = 0
        self._restart_at: int | None = None
        """After a long pause: the first voting patch starting here or later begins a new
        segment (:meth:`restart_after`)."""
        self._restarted = False
        """The newest patch began a segment after a long pause: the next one is due soon."""

    @property
    def reference_start(self) -> int:
        """Where novelty should look back to: the proposed change if any, else the segment."""
        return self.pending_frame or self.start_frame

    @property
    def has_patches(self) -> bool:
        return bool(self._patches)

    @property
    def awaiting_second(self) -> bool:
        """A split is tentative: the next patch (due half a hop later) confirms or undoes it."""
        return self._split_from is not None

    @property
    def follow_up_frames(self) -> int | None:
        """Frames after the newest patch's start when the next one is due, if sooner than
        the grid's: a tentative split or a suspect awaits the patch that decides it."""
        if self._restarted:
            return self._second_patch_frames
        if self._split_from is not None:
            if self._split_cut is None or self._second_patch_frames is None:
                return self._second_patch_frames
            return max(self._second_patch_frames, self._split_cut - self._patches[-1].start_frame)
        return self._drift_confirm_frames if self._suspect is not None else None

    def voting(self, patch: PatchResult) -> bool:
        """Does this patch count as evidence (neither silent nor a steady tone)?"""
        return patch.level_db > self._silence_db and not patch.steady

    def propose_change(self, frame: int) -> None:
        """Mel novelty saw a change of music at ``frame``; the next patch after it decides."""
        self.pending_frame = frame
        self._suspect = None  # the patch after the proposal decides, as novelty's

    @property
    def split_from(self) -> int | None:
        """While a split awaits its second patch: where the segment before it began."""
        return self._split_from

    def place_split(self, frame: int) -> None:
        """Place the cut of the newest patch's own split at ``frame`` (inside that patch):
        the patch that decides the split is judged from there, wholly after the cut, rather
        than half a hop after the straddling patch, and if it confirms, the segment begins
        there (the straddling patch holds the old music too)."""
        self.unplaced_split = False
        # A cut before the second patch's usual start changes nothing: it comes then anyway.
        second = self._second_patch_frames
        if second is not None and self._patches and frame - self._patches[-1].start_frame > second:
            self._split_cut = frame

    def restart_after(self, frame: int) -> None:
        """A long pause (silence or a steady tone) lasts until at least ``frame``: the first
        voting patch that starts there or later begins a new segment, with nothing to
        confirm. What follows a long pause is judged on its own, not averaged with the
        music before it (a rest inside a piece is far shorter: ``pause_ends_segment_s``)."""
        self._restart_at = frame

    def add(self, patch: PatchResult) -> bool:
        """Record a judged patch; return whether it confirmed a new segment."""
        began = False
        self.unplaced_split = False
        suspect, self._suspect = self._suspect, None
        restart, self._restarted = self._restart_at, False
        if restart is not None and self.voting(patch) and patch.start_frame >= restart:
            self._restart_at, self._restarted = None, True
            self.start_frame = patch.start_frame
            self.pending_frame = self._split_from = self._split_cut = None
            began = True
        elif not self.voting(patch):
            pass  # a pause or a hum decides nothing; a pending proposal waits for music
        elif suspect is not None and self._drift_confirms(suspect, patch):
            self.start_frame = suspect[0].start_frame
            began = True
        elif self._split_from is not None:
            old_start, self._split_from = self._split_from, None
            cut, self._split_cut = self._split_cut, None
            old = self._window(patch, old_start, self.start_frame)
            if not old or self._differs(old, patch, self._confirm_delta):
                began = True
                if cut is not None and patch.start_frame >= cut:
                    self.start_frame = cut
            else:
                self.start_frame = old_start  # nothing changed: the piece keeps its evidence
        elif self.pending_frame is not None and patch.start_frame >= self.pending_frame:
            began = self._split(self.pending_frame, patch, self._confirm_delta)
            self.pending_frame = None
            self.unplaced_split = self.awaiting_second
        else:
            began = self._split(patch.start_frame, patch, self._patch_change_delta)
            self.unplaced_split = self.awaiting_second
            self._suspect = None if began or self._split_from is not None else self._drift(patch)
        self._patches.append(patch)
        return began

    def decision(self, patch: PatchResult) -> tuple[float, float] | None:
        """(how differently ``patch`` judges the music from the evidence :meth:`add` would
        compare it with, the tolerance it would use), or None when it would decide nothing.
        Records nothing: the cascade asks it to find the patches that decide a change."""
        if not self.voting(patch):
            return None
        if self._suspect is not None and self._drift_delta is not None:
            old = self._window(patch, self.start_frame, self._suspect[0].start_frame)
            return (abs(self._shift(old, patch)[0]), self._drift_delta) if old else None
        if self._split_from is not None:
            start, stop, tol = self._split_from, self.start_frame, self._confirm_delta
        elif self.pending_frame is not None and patch.start_frame >= self.pending_frame:
            start, stop, tol = self.start_frame, patch.start_frame, self._confirm_delta
        else:
            start, stop, tol = self.start_frame, patch.start_frame, self._patch_change_delta
        old = self._window(patch, start, stop)
        return (self._delta(old, patch), tol) if old else None

    def _split(self, frame: int, first_new: PatchResult, tol: float) -> bool:
        """Split at ``frame`` if ``first_new`` differs; return whether a segment began now.

        With no evidence before (the stream's first music) the segment begins at once;
        otherwise the split is tentative until the next patch.
        """
        old = self._window(first_new, self.start_frame, first_new.start_frame)
        if not old:
            self.start_frame = frame
            return True
        if self._differs(old, first_new, tol):
            self._split_from = self.start_frame
            self.start_frame = frame
        return False

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
        """Voting patches of the current segment inside the window ending at ``end_frame``.

        When no such patch votes, the newest one stands in (so a quiet stretch still has
        a judgement to report).
        """
        oldest = max(self.start_frame, end_frame - self._window_frames)
        inside = [p for p in self._patches if p.start_frame >= oldest]
        voting = [p for p in inside if self.voting(p)]
        return voting or inside[-1:]

    def speech_evidence(
        self, seg: list[PatchResult], speech_head: LogisticHead
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Calibrated speech logits and pause shares of the newest voting patches of
        ``seg``, oldest first. The state reads logits, not the probability: the probability
        saturates at 1.0 well before a patch is as clearly speech as the devset's speech is.
        """
        newest = [p for p in seg if self.voting(p)][-SPEECH_EVIDENCE_PATCHES:]
        logits = tuple(speech_head.calibrated_logit(p.speech_logit) for p in newest)
        return logits, tuple(p.speech_pauses for p in newest)

    def _window(self, new: PatchResult, start: int, stop: int) -> list[PatchResult]:
        """Voting patches that began in [start, stop), inside the window ending with ``new``.

        The window is measured from the new patch's end, not from the frames held now, so
        the answer does not depend on how the audio was chunked.
        """
        oldest = max(start, new.start_frame + PATCH_FRAMES - self._window_frames)
        return [p for p in self._patches if oldest <= p.start_frame < stop and self.voting(p)]

    def _differs(self, old: list[PatchResult], new: PatchResult, tol: float) -> bool:
        """Does this patch judge the music differently from the patches before it?

        Mel novelty also fires inside a track (a new section, a fill): about one hop in ten
        at the shipped threshold. Only when the CNN agrees, twice, is the old evidence
        dropped; otherwise the segment simply continues, so a steady track keeps its
        steady estimate.
        """
        if self._speech_like is not None and self._speech_like(old[-1]) != self._speech_like(new):
            return True  # talk -> music (or back) that the saturated probability hides
        return self._delta(old, new) > tol

    def _delta(self, old: list[PatchResult], new: PatchResult) -> float:
        return max(abs(d) for d in self._shift(old, new))

    def _shift(self, old: list[PatchResult], new: PatchResult) -> tuple[float, float]:
        """How far ``new`` moves the (calm, speech) judgement from ``old``'s, signed."""
        old_calm, old_speech = self._judge(old)
        new_calm, new_speech = self._judge([new])
        return new_calm - old_calm, new_speech - old_speech

    def _drift(self, patch: PatchResult) -> tuple[PatchResult, float] | None:
        """The suspect ``patch`` makes, if it moved the calm judgement beyond the drift delta
        and neither it nor the patch before it could be speech."""
        old = self._window(patch, self.start_frame, patch.start_frame)
        if not old:
            return None
        shift = self._shift(old, patch)
        if self._drift_delta is None or abs(shift[0]) <= self._drift_delta:
            return None
        if self._talk(old, patch):
            # A talk's calm judgement decides nothing, but a move this large is worth the
            # next patch soon: it may be music beginning under the straddling patch.
            return (patch, 0.0) if self._look_in_talk else None
        return patch, float(np.sign(shift[0]))

    def _talk(self, old: list[PatchResult], patch: PatchResult) -> bool:
        """Could the segment's newest patch or ``patch`` be speech? A talk's calm judgement
        means nothing, and talk -> music has its own split (``speech_like``)."""
        return self._speech_like is not None and (
            self._speech_like(old[-1]) or self._speech_like(patch)
        )

    def _drift_confirms(self, suspect: tuple[PatchResult, float], patch: PatchResult) -> bool:
        """Does ``patch`` move the calm judgement as the suspect did, beyond the drift delta
        the same way, from the segment before the suspect?"""
        first, sign = suspect
        old = self._window(patch, self.start_frame, first.start_frame)
        assert self._drift_delta is not None  # a suspect exists only with a drift delta
        return bool(old) and sign * self._shift(old, patch)[0] > self._drift_delta
