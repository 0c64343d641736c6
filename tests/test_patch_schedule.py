"""The patch schedule's grid, on mel-frame indices alone (no audio, no model)."""

from __future__ import annotations

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import PATCH_FRAMES
from streamchill.analyzer.patch_schedule import PatchSchedule

HOP = 187  # patch_interval_s 2.992 s at 62.5 frames per second
HALF_HOP = 31  # half a 1 s hop


def test_the_first_patch_is_judged_at_once_and_the_grid_then_shifts_half_a_hop() -> None:
    s = PatchSchedule(AnalyzerConfig())
    assert s.take(PATCH_FRAMES - 1) is None  # not complete yet
    assert s.take(PATCH_FRAMES) == 0
    assert s.next_frame == HOP + HALF_HOP
    assert s.take(HOP + HALF_HOP + PATCH_FRAMES - 1) is None
    assert s.take(HOP + HALF_HOP + PATCH_FRAMES) == HOP + HALF_HOP
    assert s.next_frame == 2 * HOP + HALF_HOP  # the shift happens once


def test_a_settled_mood_skips_every_other_patch_unless_a_decision_is_open() -> None:
    s = PatchSchedule(AnalyzerConfig(settled_patch_stride=2))
    start = s.take(10_000)
    assert start == 0
    s.judged(start, follow_up=None, may_wait=True)
    assert s.next_frame == 2 * HOP + HALF_HOP
    start = s.take(10_000)
    s.judged(start, follow_up=31, may_wait=True)  # a tentative split: its second patch
    assert s.next_frame == start + 31


def test_a_proposed_change_realigns_the_grid_on_it() -> None:
    s = PatchSchedule(AnalyzerConfig())
    s.take(PATCH_FRAMES)
    s.realign(500)
    assert not s.due_by(500 + PATCH_FRAMES - 1) and s.due_by(500 + PATCH_FRAMES)
    assert s.take(10_000) == 500


def test_a_follow_up_that_would_complete_just_after_a_hop_starts_early_enough() -> None:
    s = PatchSchedule(AnalyzerConfig(follow_up_early_s=0.1))  # up to 6 frames early
    # A patch ending at frame 1,878 completes 3 frames after the hop at 30 s (1,875 frames).
    s.judged(1_878 - PATCH_FRAMES - 31, follow_up=31, may_wait=False)
    assert s.next_frame + PATCH_FRAMES == 1_875
    s.judged(1_890 - PATCH_FRAMES - 31, follow_up=31, may_wait=False)  # 15 frames late
    assert s.next_frame + PATCH_FRAMES == 1_890  # too far: it waits for the next hop


def test_a_settled_mood_peeks_at_each_patch_it_skips() -> None:
    s = PatchSchedule(AnalyzerConfig(settled_patch_stride=3))
    s.judged(s.take(10_000) or 0, follow_up=None, may_wait=True)
    skipped = HOP + HALF_HOP
    assert s.next_frame == skipped + 2 * HOP  # two patches skipped
    assert s.take_due(skipped + PATCH_FRAMES - 1) is None
    assert s.take_due(skipped + PATCH_FRAMES) == (skipped, True)  # more of the same: skipped
    assert s.take_due(skipped + HOP + PATCH_FRAMES) == (skipped + HOP, True)
    s.realign(skipped + HOP)  # the student heard something new there: judged after all
    assert s.take_due(10_000) == (skipped + HOP, False)


def test_without_peeks_a_skipped_patch_is_never_looked_at() -> None:
    s = PatchSchedule(AnalyzerConfig(settled_patch_stride=2, peek_skipped_delta=None))
    s.judged(s.take(10_000) or 0, follow_up=None, may_wait=True)
    assert s.take_due(10_000) == (2 * HOP + HALF_HOP, False)
