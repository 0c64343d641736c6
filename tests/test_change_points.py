"""Where the music changed (``change_points``): novelty's proposals and where a talk ended
inside a patch, on made-up mel frames."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from streamchill.analyzer.change_points import REFERENCE_S, proposed_change, talk_end_cut
from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import N_MELS
from streamchill.analyzer.ring import Ring
from streamchill.analyzer.segments import SegmentTracker
from streamchill.analyzer.signal_checks import novelty

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


def test_inside_a_talk_a_smaller_novelty_proposes_a_change() -> None:
    """``novelty_threshold_in_speech``: a change novelty scores between the two thresholds is
    proposed while the state is speech, and only then."""
    rng = np.random.default_rng(1)
    before = rng.normal(0.0, 1.0, (500, N_MELS))
    after = rng.normal(0.5, 1.0, (94, N_MELS))  # the last 1.5 s a little different
    mel = Ring(2_000, (N_MELS,))
    mel.push(np.concatenate([before, after]).astype(np.float32))
    c = AnalyzerConfig()
    ref_n = int(REFERENCE_S * 62.5)
    distance, _ = novelty(mel.last(94 + ref_n)[:ref_n], mel.last(94))
    between = replace(
        c, novelty_threshold=distance + 0.05, novelty_threshold_in_speech=distance - 0.05
    )
    assert proposed_change(mel, tracker(), between) is None
    assert proposed_change(mel, tracker(), between, in_speech=True) is not None
    same = replace(between, novelty_threshold_in_speech=None)
    assert proposed_change(mel, tracker(), same, in_speech=True) is None
