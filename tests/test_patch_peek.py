"""Which patch the settled stride skipped is judged after all: the student's look at it
(``patch_schedule.worth_judging``), on made-up judgements (no audio, no model)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.mel import PATCH_FRAMES
from streamchill.analyzer.patch_schedule import worth_judging
from streamchill.analyzer.segments import PatchResult, SegmentTracker

SPEECH_HEAD = LogisticHead(
    name="speech", version="test", inputs="tags", mean=np.zeros(1), scale=np.ones(1),
    coef=np.zeros(1), intercept=0.0, platt_a=1.0, platt_b=0.0,
)  # fmt: skip
"""Calibrated logit = raw logit, so the made-up patches below read as they are written."""
MUSIC = -20.0


def judge(patches: Sequence[PatchResult]) -> tuple[float, float]:
    """A patch's calm logit stands in for its calm probability; speech is music's ~0."""
    return float(np.mean([p.calm_logit for p in patches])), 0.0


def patch(i: int, calm: float, speech: float = MUSIC, pauses: float = 0.0) -> PatchResult:
    return PatchResult(
        start_frame=i * PATCH_FRAMES,
        calm_logit=calm,
        speech_logit=speech,
        tags=np.zeros(50, np.float32),
        level_db=-20.0,
        speech_pauses=pauses,
    )


def settled_calm_piece() -> SegmentTracker:
    t = SegmentTracker(judge=judge, window_frames=10 * PATCH_FRAMES, max_patches=14,
                       silence_db=-55.0, confirm_delta=0.25, patch_change_delta=0.7)  # fmt: skip
    for i in range(6):
        t.add(patch(i, 0.9))
    return t


def test_more_of_the_same_stays_skipped() -> None:
    c = AnalyzerConfig()
    assert not worth_judging(c, settled_calm_piece(), SPEECH_HEAD, patch(7, 0.8))


def test_a_patch_that_moves_the_judgement_or_could_be_speech_is_judged() -> None:
    c = AnalyzerConfig()
    t = settled_calm_piece()
    assert c.peek_skipped_delta is not None
    moved = 0.9 - c.peek_skipped_delta - 0.1  # the next piece, whose cut novelty missed
    assert worth_judging(c, t, SPEECH_HEAD, patch(7, moved))
    assert worth_judging(c, t, SPEECH_HEAD, patch(7, 0.9, speech=c.student_maybe_speech_logit))
    # Below the maybe-speech logit no pause share makes a patch speech (the cue's floor).
    assert c.speech_cue_floor_logit > c.student_maybe_speech_logit
    below = c.student_maybe_speech_logit - 0.5
    assert not worth_judging(c, t, SPEECH_HEAD, patch(7, 0.9, speech=below, pauses=0.9))


def test_a_silent_patch_or_no_peeks_judge_nothing() -> None:
    c = AnalyzerConfig()
    t = settled_calm_piece()
    quiet = PatchResult(start_frame=7 * PATCH_FRAMES, calm_logit=0.1, speech_logit=MUSIC,
                        tags=np.zeros(50, np.float32), level_db=-70.0)  # fmt: skip
    assert not worth_judging(c, t, SPEECH_HEAD, quiet)
    off = AnalyzerConfig(peek_skipped_delta=None)
    assert not worth_judging(off, t, SPEECH_HEAD, patch(7, 0.1))
