"""When the CNN judges the next 3 s patch: the grid, and what moves it.

A patch is judged every ``patch_interval_s`` (non-overlapping patches), on a grid shifted by
half a hop after the first patch so that patches complete between hop boundaries and the
CNN's work never delays a hop's event. Three things move the grid:

* a change of music proposed by mel novelty re-aligns it on the change, so the first patch
  wholly after the cut is judged as soon as it is complete (:meth:`PatchSchedule.realign`);
* a patch that leaves a decision open (a tentative split, a drift suspect: the segment
  tracker's ``follow_up_frames``) has the next one judged that soon after it;
* while a mood is settled on a confident segment and nothing is proposed
  (:func:`may_wait`), only every ``settled_patch_stride``-th patch is judged; the student
  alone looks at each skipped patch when it is complete (a *peek*), and one that does not
  sound like more of the same (:func:`worth_judging`) re-aligns the grid on itself, as a
  proposed change does.

Pure bookkeeping on mel-frame indices: the same frames give the same schedule whatever the
chunking.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from streamchill.analyzer.hysteresis import could_be_speech
from streamchill.analyzer.mel import FRAMES_PER_S, PATCH_FRAMES

if TYPE_CHECKING:
    from streamchill.analyzer.config import AnalyzerConfig
    from streamchill.analyzer.heads import LogisticHead
    from streamchill.analyzer.hysteresis import MoodStateMachine
    from streamchill.analyzer.segments import PatchResult, SegmentTracker


class PatchSchedule:
    """The start frame of the next patch to judge, and the rules that move it."""

    def __init__(self, config: AnalyzerConfig) -> None:
        self._hop_frames = max(1, round(config.patch_interval_s * FRAMES_PER_S))
        self._half_hop_frames = round(config.hop_s * FRAMES_PER_S / 2)
        self._stride = config.settled_patch_stride
        self._peek = config.peek_skipped_delta is not None
        self._hop_span = config.hop_s * FRAMES_PER_S
        self._early_frames = round(config.follow_up_early_s * FRAMES_PER_S)
        self.next_frame = 0
        """Mel frame where the next patch to judge starts."""
        self.peek_frame: int | None = None
        """Where a patch the settled stride skipped starts, until it has been peeked at."""

    def due_by(self, frames: int) -> bool:
        """Is the next patch, or a skipped patch to peek at, complete once ``frames`` mel
        frames are in?"""
        peek = self.peek_frame is not None and self.peek_frame + PATCH_FRAMES <= frames
        return peek or self.next_frame + PATCH_FRAMES <= frames

    def take_due(self, frames: int) -> tuple[int, bool] | None:
        """(start frame, skipped) of the next patch complete among ``frames`` mel frames:
        a skipped patch to peek at (judged after all if :meth:`realign` puts the grid on
        it), else the next patch to judge (:meth:`take`); None if neither is complete."""
        start = self.peek_frame
        if start is None or start + PATCH_FRAMES > frames:
            start = self.take(frames)
            return None if start is None else (start, False)
        later = start + self._hop_frames
        self.peek_frame = later if later < self.next_frame else None
        return start, True

    def take(self, frames: int) -> int | None:
        """The start frame of the next patch if it is complete among ``frames`` mel frames
        (the grid then moves on by one patch), else None."""
        if not self.due_by(frames):
            return None
        start = self.next_frame
        self.next_frame += self._hop_frames
        if start == 0:
            # After the first patch (which makes the first estimate at ~3 s), shift the grid
            # by half a hop: patches then complete between hop boundaries.
            self.next_frame += self._half_hop_frames
        return start

    def judged(self, start: int, *, follow_up: int | None, may_wait: bool) -> None:
        """The patch at ``start`` was judged: a decision it left open has the next patch
        ``follow_up`` frames after it; else, if the mood may wait, the grid skips ahead."""
        self.peek_frame = None
        if follow_up is not None:
            self.next_frame = start + follow_up - self._past_hop(start + follow_up + PATCH_FRAMES)
        elif may_wait:
            self.peek_frame = self.next_frame if self._peek else None
            self.next_frame += self._hop_frames * (self._stride - 1)

    def _past_hop(self, end: int) -> int:
        """How far past the last hop boundary a patch ending at frame ``end`` completes, if
        by no more than ``follow_up_early_s`` (else 0): started that much earlier, it is
        judged before that hop's event instead of waiting a whole hop for the next."""
        boundary = math.floor(math.floor(end / self._hop_span) * self._hop_span)
        late = end - boundary
        return late if late <= self._early_frames else 0

    def realign(self, frame: int) -> None:
        """A change of music was proposed at ``frame`` (or a skipped patch starting there is
        worth judging): the next patch starts on it."""
        self.next_frame = frame
        self.peek_frame = None


def may_wait(
    config: AnalyzerConfig,
    machine: MoodStateMachine,
    segments: SegmentTracker,
    speech_head: LogisticHead,
    end_frame: int,
) -> bool:
    """May the next patch wait longer? A settled mood on a confident segment, no change
    proposed (mel novelty re-aligns the grid and a patch is judged at once) and nothing
    that could be speech in the newest patch (which ends at ``end_frame``)."""
    if config.settled_patch_stride <= 1 or segments.pending_frame is not None:
        return False
    seg = segments.current(end_frame)
    if not machine.settled or len(seg) < config.confident_after_patches:
        return False
    # A patch that could be speech, or pauses as speech does, asks for the next one.
    logits, pauses = segments.speech_evidence(seg, speech_head)
    return not logits or not (
        could_be_speech(config, logits[-1], pauses[-1]) or pauses[-1] >= config.speech_cue_pauses
    )


def worth_judging(
    config: AnalyzerConfig, segments: SegmentTracker, speech_head: LogisticHead, peek: PatchResult
) -> bool:
    """Is a patch the settled stride skipped worth judging after all, by the student's look
    at it (``peek``)? When it may be speech (the cascade's ``student_maybe_speech_logit``,
    below any logit the patch rule calls speech), or it moves the segment's calm or speech
    probability by more than ``peek_skipped_delta``: a cut mel novelty did not mark may
    lie in it."""
    if config.peek_skipped_delta is None or not segments.voting(peek):
        return False  # a pause or a tone: the hop's own checks follow it
    if speech_head.calibrated_logit(peek.speech_logit) >= config.student_maybe_speech_logit:
        return True
    found = segments.decision(peek)
    return found is not None and found[0] > config.peek_skipped_delta
