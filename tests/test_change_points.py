"""Where a talk ended inside a patch (``change_points.talk_end_cut``), on made-up mel frames."""

from __future__ import annotations

import numpy as np

from streamchill.analyzer.change_points import talk_end_cut
from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import N_MELS
from streamchill.analyzer.ring import Ring
from streamchill.analyzer.segments import SegmentTracker

TALK_ENDS = 600
"""Mel frame where the talk gives way to music."""


def talk_then_music() -> Ring:
    rng = np.random.default_rng(0)
    talk = rng.normal(0.0, 0.1, (TALK_ENDS, N_MELS))
    music = rng.normal(1.0, 0.1, (400, N_MELS))
    mel = Ring(2_000, (N_MELS,))
    mel.push(np.concatenate([talk, music]).astype(np.float32))
    return mel


def tracker() -> SegmentTracker:
    return SegmentTracker(judge=lambda _: (0.5, 1.0), window_frames=1_875, max_patches=14,
                          silence_db=-55.0, confirm_delta=0.25, patch_change_delta=0.7)  # fmt: skip


def test_a_patch_whose_speech_logit_falls_far_is_followed_from_the_cut_inside_it() -> None:
    c = AnalyzerConfig()
    assert c.talk_drop_logit is not None
    start = TALK_ENDS - 40  # the patch holds 40 frames (0.64 s) of the talk's end
    cut = talk_end_cut(talk_then_music(), tracker(), start, c, (30.0, 30.0 - c.talk_drop_logit))
    assert cut is not None and 40 <= cut <= 48  # novelty's change point, one step of margin


def test_a_smaller_fall_or_no_rule_leaves_the_grid_alone() -> None:
    c = AnalyzerConfig()
    assert c.talk_drop_logit is not None
    mel, start = talk_then_music(), TALK_ENDS - 40
    assert talk_end_cut(mel, tracker(), start, c, (30.0, 30.5 - c.talk_drop_logit)) is None
    assert talk_end_cut(mel, tracker(), start, c, (10.0,)) is None  # nothing before it
    off = AnalyzerConfig(talk_drop_logit=None)
    assert talk_end_cut(mel, tracker(), start, off, (30.0, -30.0)) is None


def test_a_cut_novelty_puts_late_in_the_patch_is_brought_forward() -> None:
    c = AnalyzerConfig()
    assert c.talk_drop_logit is not None
    start = TALK_ENDS - 150  # the talk fills 2.4 s of the patch
    cut = talk_end_cut(talk_then_music(), tracker(), start, c, (30.0, 30.0 - c.talk_drop_logit))
    assert cut == round(c.talk_end_latest_s * 62.5)  # judged from half a patch in
