"""Which patches count: segments begin on a confirmed change and old evidence stops counting.

The tracker is fed made-up judgements (a patch's calm logit is its calm probability's
stand-in here: the judge averages them), so these tests pin the rules without audio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streamchill.analyzer.mel import PATCH_FRAMES
from streamchill.analyzer.segments import YOUNG_SEGMENT_PATCHES, PatchResult, SegmentTracker

STEP = PATCH_FRAMES  # non-overlapping patches
WINDOW = 10 * STEP


def judge(patches: Sequence[PatchResult]) -> tuple[float, float]:
    return (
        float(np.mean([p.calm_logit for p in patches])),
        float(np.mean([p.speech_logit for p in patches])),
    )


def tracker() -> SegmentTracker:
    return SegmentTracker(
        judge=judge,
        window_frames=WINDOW,
        max_patches=14,
        silence_db=-55.0,
        confirm_delta=0.25,
        patch_change_delta=0.7,
    )


def patch(i: int, calm: float, speech: float = 0.0, level_db: float = -20.0) -> PatchResult:
    return PatchResult(
        start_frame=i * STEP,
        calm_logit=calm,
        speech_logit=speech,
        tags=np.zeros(50, np.float32),
        level_db=level_db,
    )


def test_a_steady_piece_stays_one_segment() -> None:
    t = tracker()
    began = [t.add(patch(i, 0.8 + 0.05 * (i % 2))) for i in range(6)]
    assert began == [True, False, False, False, False, False]  # the first patch opens one
    assert len(t.current(6 * STEP)) == 6


def test_a_proposed_change_that_the_cnn_confirms_drops_the_old_evidence() -> None:
    t = tracker()
    for i in range(5):
        t.add(patch(i, 0.9))
    t.propose_change(5 * STEP)
    assert t.reference_start == 5 * STEP
    assert t.add(patch(5, 0.1)) is True
    assert [p.start_frame for p in t.current(6 * STEP)] == [5 * STEP]
    assert t.pending_frame is None


def test_a_proposed_change_that_the_cnn_does_not_confirm_keeps_the_segment() -> None:
    t = tracker()
    for i in range(5):
        t.add(patch(i, 0.9))
    t.propose_change(5 * STEP)
    assert t.add(patch(5, 0.8)) is False
    assert len(t.current(6 * STEP)) == 6
    assert t.start_frame == 0


def test_a_very_different_patch_starts_a_segment_without_novelty() -> None:
    t = tracker()
    for i in range(4):
        t.add(patch(i, 0.9, speech=0.0))
    assert t.add(patch(4, 0.9, speech=0.95)) is True  # talk over a similar spectrum
    assert t.start_frame == 4 * STEP


def test_old_patches_leave_with_the_window() -> None:
    t = tracker()
    for i in range(14):
        t.add(patch(i, 0.8))
    kept = t.current(14 * STEP)
    assert kept[0].start_frame == 4 * STEP and len(kept) == 10


def test_silent_patches_do_not_vote_unless_nothing_else_is_there() -> None:
    t = tracker()
    t.add(patch(0, 0.9))
    t.add(patch(1, 0.5, level_db=-80.0))
    assert [p.calm_logit for p in t.current(2 * STEP)] == [0.9]
    quiet = tracker()
    quiet.add(patch(0, 0.3, level_db=-80.0))
    assert [p.calm_logit for p in quiet.current(STEP)] == [0.3]


def test_a_new_segment_is_young_for_its_first_patches_only() -> None:
    t = tracker()
    young = [t.hop(new_segment=True, judged=1)]
    young += [t.hop(new_segment=False, judged=0)]  # hops without a patch do not count down
    young += [t.hop(new_segment=False, judged=1) for _ in range(YOUNG_SEGMENT_PATCHES)]
    assert young == [True, False, True, False]
