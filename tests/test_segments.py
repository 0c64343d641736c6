"""Which patches count: segments begin on a change two patches confirm; pauses decide nothing.

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


def patch(
    i: float, calm: float, speech: float = 0.0, level_db: float = -20.0, steady: bool = False
) -> PatchResult:
    return PatchResult(
        start_frame=round(i * STEP),
        calm_logit=calm,
        speech_logit=speech,
        tags=np.zeros(50, np.float32),
        level_db=level_db,
        steady=steady,
    )


def calm_piece(t: SegmentTracker, n: int = 5, calm: float = 0.9) -> None:
    for i in range(n):
        t.add(patch(i, calm))


def test_a_steady_piece_stays_one_segment() -> None:
    t = tracker()
    began = [t.add(patch(i, 0.8 + 0.05 * (i % 2))) for i in range(6)]
    assert began == [True, False, False, False, False, False]  # the first patch opens one
    assert len(t.current(6 * STEP)) == 6


def test_a_change_two_patches_confirm_drops_the_old_evidence() -> None:
    t = tracker()
    calm_piece(t)
    t.propose_change(5 * STEP)
    assert t.reference_start == 5 * STEP
    assert t.add(patch(5, 0.1)) is False  # tentative: the first new patch alone
    assert t.awaiting_second and t.pending_frame is None
    assert [p.start_frame for p in t.current(6 * STEP)] == [5 * STEP]
    assert t.add(patch(5.33, 0.15)) is True  # the second, one hop later, agrees
    assert not t.awaiting_second
    assert [p.calm_logit for p in t.current(7 * STEP)] == [0.1, 0.15]


def test_a_change_the_second_patch_denies_keeps_the_pieces_evidence() -> None:
    t = tracker()
    calm_piece(t)
    t.propose_change(5 * STEP)
    t.add(patch(5, 0.1))  # a quiet bar judged very differently...
    assert t.add(patch(5.33, 0.85)) is False  # ...but the music goes on as before
    assert t.start_frame == 0
    assert len(t.current(7 * STEP)) == 7


def test_a_proposed_change_that_the_cnn_does_not_confirm_keeps_the_segment() -> None:
    t = tracker()
    calm_piece(t)
    t.propose_change(5 * STEP)
    assert t.add(patch(5, 0.8)) is False
    assert not t.awaiting_second
    assert len(t.current(6 * STEP)) == 6
    assert t.start_frame == 0


def test_a_very_different_patch_splits_without_novelty_once_the_next_agrees() -> None:
    t = tracker()
    for i in range(4):
        t.add(patch(i, 0.9, speech=0.0))
    assert t.add(patch(4, 0.9, speech=0.95)) is False  # talk over a similar spectrum...
    assert t.add(patch(4.33, 0.9, speech=0.9)) is True  # ...goes on: a new segment
    assert t.start_frame == 4 * STEP


def test_the_first_music_of_a_stream_begins_a_segment_at_once() -> None:
    t = tracker()
    assert t.add(patch(0, 0.3, level_db=-80.0)) is False  # silence decides nothing
    assert t.add(patch(1, 0.9)) is True
    assert not t.awaiting_second


def test_a_silent_patch_judged_differently_does_not_end_the_piece() -> None:
    t = tracker()
    calm_piece(t)
    t.propose_change(5 * STEP)  # the pause itself is mel novelty
    assert t.add(patch(5, 0.1, speech=0.97, level_db=-80.0)) is False
    assert t.pending_frame == 5 * STEP and not t.awaiting_second  # still waiting for music
    assert t.add(patch(6, 0.88)) is False  # the same piece resumes
    assert t.start_frame == 0
    assert [p.calm_logit for p in t.current(7 * STEP)] == [0.9] * 5 + [0.88]


def test_a_steady_tone_neither_votes_nor_decides() -> None:
    t = tracker()
    calm_piece(t)
    t.propose_change(5 * STEP)
    assert t.add(patch(5, 0.2, steady=True)) is False
    assert t.pending_frame == 5 * STEP
    assert all(not p.steady for p in t.current(6 * STEP))


def test_after_a_long_pause_the_music_begins_a_segment_of_its_own() -> None:
    """Across a 14 s tone, aggressive music (0.27) after music judged 0.41 stayed one segment
    with it (they differ by less than the confirm delta), and the patch straddling the
    tone's end (mostly tone, judged 0.94) voted too. After a long pause the first patch
    wholly past the pause's last hop but half a patch begins a segment, and the next is
    due as soon as a split's second patch would be."""
    t = SegmentTracker(
        judge=judge, window_frames=WINDOW, max_patches=14, silence_db=-55.0,
        confirm_delta=0.25, patch_change_delta=0.7, second_patch_frames=31,
    )  # fmt: skip
    calm_piece(t, calm=0.41)
    t.add(patch(5, 0.2, steady=True))
    t.restart_after(round(7.5 * STEP))  # the session: the pause lasted long enough
    assert t.add(patch(7, 0.94)) is False  # straddles the pause's end: not new music yet
    assert t.add(patch(7.6, 0.27)) is True
    assert t.start_frame == round(7.6 * STEP)
    assert [p.calm_logit for p in t.current(9 * STEP)] == [0.27]
    assert t.follow_up_frames == 31
    assert t.add(patch(8.6, 0.3)) is False  # one restart per pause
    assert t.follow_up_frames is None
    assert [p.calm_logit for p in t.current(10 * STEP)] == [0.27, 0.3]


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


def test_music_the_speech_probability_hides_after_a_talk_is_a_new_segment() -> None:
    """Music the head is unsure of (0.9 here, near the talk's 1.0) after a talk: only
    whether each patch could be speech tells them apart, and two patches confirm it."""

    def split_on_speech() -> SegmentTracker:
        return SegmentTracker(judge=judge, window_frames=WINDOW, max_patches=14,
                              silence_db=-55.0, confirm_delta=0.25, patch_change_delta=0.7,
                              speech_like=lambda p: p.speech_logit >= 0.95)  # fmt: skip

    for t, splits in ((tracker(), False), (split_on_speech(), True)):
        for i in range(4):
            t.add(patch(i, 0.2, speech=1.0))  # the talk: its calm judgement is meaningless
        assert t.add(patch(4, 0.7, speech=0.9)) is False
        assert t.add(patch(4.33, 0.75, speech=0.9)) is splits
        assert (len(t.current(6 * STEP)) == 2) is splits
    t = split_on_speech()
    for i in range(4):
        t.add(patch(i, 0.2, speech=1.0))
    t.add(patch(4, 0.2, speech=0.9))  # one patch between two sentences...
    assert t.add(patch(4.33, 0.2, speech=1.0)) is False  # ...and the talk goes on
    assert len(t.current(6 * STEP)) == 6


def drifting_tracker() -> SegmentTracker:
    return SegmentTracker(judge=judge, window_frames=WINDOW, max_patches=14, silence_db=-55.0,
                          confirm_delta=0.25, patch_change_delta=0.7, second_patch_frames=31,
                          drift_delta=0.35, drift_confirm_frames=94)  # fmt: skip


def test_a_cut_novelty_missed_splits_at_the_first_of_two_patches_that_drift_alike() -> None:
    """The first patch straddles the cut (0.5: 0.4 from the calm piece, under the 0.7 a
    single patch needs); the next, judged soon after it, lies beyond the drift delta the
    same way: the segment begins at the first, and the calm piece stops counting."""
    t = drifting_tracker()
    calm_piece(t)
    assert t.follow_up_frames is None
    assert t.add(patch(5, 0.5)) is False
    assert t.follow_up_frames == 94 and not t.awaiting_second  # the next comes 1.5 s later
    assert t.decision(patch(5.5, 0.45)) == (0.45, 0.35)  # decided against the old piece
    assert t.add(patch(5.5, 0.45)) is True
    assert t.start_frame == 5 * STEP and t.follow_up_frames is None
    assert [p.calm_logit for p in t.current(7 * STEP)] == [0.5, 0.45]


def test_a_drifting_patch_the_next_does_not_follow_stays_in_the_piece() -> None:
    for calm in (0.85, 1.3):  # back in the piece, or beyond the delta the other way
        t = drifting_tracker()
        calm_piece(t, calm=0.9)
        assert t.add(patch(5, 0.5)) is False
        assert t.add(patch(5.5, calm)) is False
        assert t.start_frame == 0 and len(t.current(7 * STEP)) == 7
    t = drifting_tracker()
    calm_piece(t)
    t.add(patch(5, 0.5))
    t.add(patch(5.5, 0.45, level_db=-80.0))  # a pause between them: nothing follows
    assert t.follow_up_frames is None
    assert t.add(patch(6, 0.45)) is False and t.start_frame == 0
    plain = tracker()  # without a drift delta, neither patch splits
    calm_piece(plain)
    assert [plain.add(patch(5, 0.5)), plain.add(patch(5.5, 0.45))] == [False, False]
    assert plain.follow_up_frames is None and plain.start_frame == 0


def test_a_talks_calm_judgement_raises_no_suspect() -> None:
    """A talk's calm judgement means nothing: it moving by 0.4 asks for no follow-up."""
    t = SegmentTracker(judge=judge, window_frames=WINDOW, max_patches=14, silence_db=-55.0,
                       confirm_delta=0.25, patch_change_delta=0.7, drift_delta=0.35,
                       drift_confirm_frames=94,
                       speech_like=lambda p: p.speech_logit >= 0.95)  # fmt: skip
    for i in range(5):
        t.add(patch(i, 0.2, speech=1.0))
    assert t.add(patch(5, 0.6, speech=1.0)) is False
    assert t.follow_up_frames is None and t.start_frame == 0


def test_a_large_calm_move_in_a_talk_asks_for_the_next_patch_soon_but_splits_nothing() -> None:
    """Music may begin under a patch that still sounds like the talk (the talk -> music split
    needs a patch that could not be speech): with ``look_in_talk`` the next patch comes 1.5 s
    later instead of a whole patch, and it alone decides nothing."""
    t = SegmentTracker(judge=judge, window_frames=WINDOW, max_patches=14, silence_db=-55.0,
                       confirm_delta=0.25, patch_change_delta=0.7, drift_delta=0.35,
                       drift_confirm_frames=94, look_in_talk=True,
                       speech_like=lambda p: p.speech_logit >= 0.95)  # fmt: skip
    for i in range(5):
        t.add(patch(i, 0.2, speech=1.0))
    assert t.add(patch(5, 0.6, speech=1.0)) is False
    assert t.follow_up_frames == 94
    assert t.add(patch(5.5, 0.65, speech=1.0)) is False  # still the talk: nothing splits
    assert t.start_frame == 0
    t.add(patch(6.5, 0.2, speech=1.0))  # back with the talk's judgement: no hurry
    assert t.start_frame == 0 and t.follow_up_frames is None


def placing_tracker() -> SegmentTracker:
    return SegmentTracker(
        judge=judge, window_frames=WINDOW, max_patches=14, silence_db=-55.0,
        confirm_delta=0.25, patch_change_delta=0.7, second_patch_frames=31,
    )  # fmt: skip


def test_a_split_whose_cut_lies_late_in_its_patch_is_decided_wholly_after_the_cut() -> None:
    """The first patch after a cut that novelty missed holds the old music up to the cut:
    the caller places the cut, the deciding patch starts there, and so does the segment."""
    t = placing_tracker()
    calm_piece(t)
    assert t.add(patch(5, 0.0)) is False and t.unplaced_split
    assert t.follow_up_frames == 31  # unplaced: the second patch half a hop later
    t.place_split(5 * STEP + 100)
    assert not t.unplaced_split and t.follow_up_frames == 100
    assert t.add(patch(5 + 100 / STEP, 0.05)) is True
    assert t.start_frame == 5 * STEP + 100
    assert [p.calm_logit for p in t.current(7 * STEP)] == [0.05]


def test_a_cut_placed_before_the_usual_second_patch_changes_nothing() -> None:
    t = placing_tracker()
    calm_piece(t)
    t.add(patch(5, 0.0))
    t.place_split(5 * STEP + 20)
    assert t.follow_up_frames == 31
    assert t.add(patch(5 + 31 / STEP, 0.05)) is True
    assert t.start_frame == 5 * STEP  # the straddling patch counts, as without a placement
