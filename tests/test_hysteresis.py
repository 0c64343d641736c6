"""The state machine: thresholds with hysteresis that grows with the segment's evidence, a
minimum dwell and its exceptions, speech decided on runs of patches (two inside music, and
left as soon as two could not be speech), and a pause that waits for a judgement of what
follows."""

from __future__ import annotations

import pytest

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodState
from streamchill.analyzer.hysteresis import MoodStateMachine, Observation

SPEECH = 40.0
"""A calibrated speech logit as the devset's speech gives (median 39)."""
MUSIC = -20.0
"""One as held-out music gives (median -21 to -28)."""


def obs(t: float, p: float, **kw: object) -> Observation:
    base: dict[str, object] = {
        "speech_probability": 0.0, "silent": False, "steady": False, "has_patch": True,
        "fresh_segment": False, "speech_logits": (MUSIC,), "segment_patches": 1,
        "stale": False,
    }  # fmt: skip
    base.update(kw)
    return Observation(media_time_s=t, calm_probability=p, **base)  # type: ignore[arg-type]


def run(machine: MoodStateMachine, probs: list[float], start: float = 0.0) -> list[MoodState]:
    return [machine.update(obs(start + i, p)) for i, p in enumerate(probs)]


def test_first_estimate_is_taken_at_once() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    assert m.update(obs(3.0, 0.9)) is MoodState.CALM


def test_probability_wandering_between_exit_and_enter_does_not_flicker() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    states = run(m, [0.9, 0.6, 0.58, 0.62, 0.56, 0.6, 0.57])
    assert set(states) == {MoodState.CALM}


def test_a_new_state_must_be_wanted_for_the_dwell_time() -> None:
    m = MoodStateMachine(AnalyzerConfig(min_dwell_s=3.0))
    states = run(m, [0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1])
    assert states[:5] == [MoodState.CALM] * 5  # single dips are ignored
    assert states[-1] is MoodState.AGGRESSIVE


def test_a_detected_change_of_music_waives_the_dwell() -> None:
    m = MoodStateMachine(AnalyzerConfig(min_dwell_s=3.0))
    run(m, [0.9, 0.9])
    assert m.update(obs(2.0, 0.1, fresh_segment=True)) is MoodState.AGGRESSIVE


def test_new_music_in_the_neutral_band_does_not_drop_a_mood_at_once() -> None:
    m = MoodStateMachine(AnalyzerConfig(min_dwell_s=3.0))
    run(m, [0.1, 0.1])
    assert m.update(obs(2.0, 0.5, fresh_segment=True)) is MoodState.AGGRESSIVE
    assert m.update(obs(3.0, 0.3)) is MoodState.AGGRESSIVE  # it was a passing bridge
    assert m.update(obs(4.0, 0.9, fresh_segment=True)) is MoodState.CALM  # a mood: at once


def test_a_change_of_music_barely_past_a_bar_waits_for_the_dwell() -> None:
    """Two overlapping patches of a calm piece's passage judged 0.38 (hw-snow-0 11 s in,
    among patches at 0.96) confirm a new segment just past the aggressive bar: that is not
    clear enough to skip the dwell, and the piece's next patches bring it back before the
    dwell is over. New music clearly past the bar still moves the state at once."""
    c = AnalyzerConfig(min_dwell_s=3.0)
    barely = c.aggressive_enter - c.fresh_mood_margin / 2
    m = MoodStateMachine(c)
    run(m, [0.96, 0.96])
    assert m.update(obs(2.0, barely, fresh_segment=True)) is MoodState.CALM
    assert m.update(obs(3.0, barely, fresh_segment=True)) is MoodState.CALM
    assert run(m, [0.53, 0.58, 0.62], start=4.0) == [MoodState.CALM] * 3
    m = MoodStateMachine(c)
    run(m, [0.96, 0.96])
    clearly = c.aggressive_enter - 2 * c.fresh_mood_margin
    assert m.update(obs(2.0, clearly, fresh_segment=True)) is MoodState.AGGRESSIVE
    m = MoodStateMachine(c)
    run(m, [0.1, 0.1])
    assert m.update(obs(2.0, c.calm_enter + c.fresh_mood_margin / 2, fresh_segment=True)) is (
        MoodState.AGGRESSIVE
    )
    assert m.update(obs(3.0, c.calm_enter + 2 * c.fresh_mood_margin, fresh_segment=True)) is (
        MoodState.CALM
    )


def test_silence_is_immediate_and_never_calm() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    run(m, [0.9, 0.9])
    assert m.update(obs(2.0, 0.99, silent=True)) is MoodState.SILENCE


def test_speech_wins_over_calm_and_holds_until_exit_threshold() -> None:
    m = MoodStateMachine(AnalyzerConfig(min_dwell_s=0.0))
    talk = (SPEECH,)
    assert m.update(obs(0.0, 0.95, speech_probability=0.8, speech_logits=talk)) is MoodState.SPEECH
    assert m.update(obs(1.0, 0.95, speech_probability=0.45, speech_logits=talk)) is (
        MoodState.SPEECH
    )
    assert m.update(obs(2.0, 0.95, speech_probability=0.2, speech_logits=talk)) is MoodState.CALM


def test_one_patch_that_sounds_like_speech_inside_music_is_not_speech() -> None:
    m = MoodStateMachine(AnalyzerConfig(min_dwell_s=0.0))
    run(m, [0.9, 0.9])
    shout = {"speech_probability": 0.99}
    assert m.update(obs(2.0, 0.9, speech_logits=(MUSIC, SPEECH), **shout)) is MoodState.CALM
    assert m.update(obs(3.0, 0.9, speech_logits=(SPEECH, SPEECH), **shout)) is MoodState.SPEECH


def test_after_a_change_of_music_one_clear_speech_patch_is_speech() -> None:
    """A song cut to a talk: the new segment has not been heard to be music."""
    m = MoodStateMachine(AnalyzerConfig(min_dwell_s=3.0))
    run(m, [0.9, 0.9])
    talk = obs(2.0, 0.1, speech_probability=1.0, speech_logits=(MUSIC, SPEECH), fresh_segment=True)
    assert m.update(talk) is MoodState.SPEECH


def test_a_saturated_speech_probability_without_a_speech_like_patch_is_not_speech() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    assert (
        m.update(obs(0.0, 0.1, speech_probability=0.99, speech_logits=(12.0,)))
        is MoodState.AGGRESSIVE
    )


def test_speech_after_silence_needs_only_one_patch() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    m.update(obs(0.0, 0.5, silent=True))
    assert m.update(obs(4.0, 0.5, speech_probability=0.9, speech_logits=(SPEECH,))) is (
        MoodState.SPEECH
    )


def test_after_a_pause_two_patches_that_could_be_speech_are_speech() -> None:
    c = AnalyzerConfig()
    m = MoodStateMachine(c)
    m.update(obs(0.0, 0.5, silent=True))
    weak = c.speech_hold_logit + 2  # a quiet voice: could be speech, not clearly
    assert m.update(obs(4.0, 0.1, speech_probability=1.0, speech_logits=(weak,))) is (
        MoodState.AGGRESSIVE
    )
    assert m.update(obs(5.0, 0.1, speech_probability=1.0, speech_logits=(weak, weak))) is (
        MoodState.SPEECH
    )


def test_music_judged_music_does_not_turn_to_speech_on_weak_patches() -> None:
    c = AnalyzerConfig()
    m = MoodStateMachine(c)
    run(m, [0.1, 0.1])  # aggressive, judged on patches that are clearly not speech
    weak = (c.speech_hold_logit + 2,) * 2
    states = [m.update(obs(2.0 + i, 0.1, speech_probability=1.0, speech_logits=weak))
              for i in range(5)]  # fmt: skip
    assert set(states) == {MoodState.AGGRESSIVE}


def test_speech_is_left_at_once_when_two_patches_could_not_be_speech() -> None:
    """A talk, then ambient music whose speech probability still saturates at 1.0."""
    c = AnalyzerConfig(min_dwell_s=3.0)
    m = MoodStateMachine(c)
    m.update(obs(0.0, 0.2, speech_probability=1.0, speech_logits=(SPEECH,)))
    assert m.state is MoodState.SPEECH
    ambient = c.speech_hold_logit - 3
    first = obs(1.0, 0.8, speech_probability=1.0, speech_logits=(SPEECH, ambient))
    assert m.update(first) is MoodState.SPEECH  # one patch could still be a pause in the talk
    second = obs(2.0, 0.8, speech_probability=1.0, speech_logits=(SPEECH, ambient, ambient))
    assert m.update(second) is MoodState.CALM  # no dwell: the two patches were it


def test_a_talk_with_one_weak_patch_stays_speech() -> None:
    c = AnalyzerConfig()
    m = MoodStateMachine(c)
    m.update(obs(0.0, 0.2, speech_probability=1.0, speech_logits=(SPEECH,)))
    runs = [(SPEECH, SPEECH), (SPEECH, 10.0), (10.0, SPEECH), (SPEECH, SPEECH)]
    states = [m.update(obs(1.0 + i, 0.2, speech_probability=1.0, speech_logits=r))
              for i, r in enumerate(runs)]  # fmt: skip
    assert set(states) == {MoodState.SPEECH}


def test_a_confident_segment_holds_its_state_below_the_plain_exit() -> None:
    c = AnalyzerConfig()
    drift = c.calm_exit - c.confident_widening / 2  # below the exit, inside the widening
    young = MoodStateMachine(c)
    young.update(obs(0.0, 0.9))
    assert run(young, [drift] * 6, start=1.0)[-1] is MoodState.NEUTRAL
    sure = MoodStateMachine(c)
    sure.update(obs(0.0, 0.9, segment_patches=c.confident_after_patches))
    states = [sure.update(obs(1.0 + i, drift, segment_patches=10)) for i in range(6)]
    assert set(states) == {MoodState.CALM}


def test_a_calm_piece_that_sits_at_the_neutral_band_edge_is_calm() -> None:
    c = AnalyzerConfig()
    m = MoodStateMachine(c)
    assert set(run(m, [0.6, 0.62, 0.58, 0.6, 0.61])) == {MoodState.CALM}


def test_steady_tones_are_neutral_not_calm_and_followed_at_once() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    run(m, [0.9, 0.9])
    assert m.update(obs(2.0, 0.99, steady=True)) is MoodState.NEUTRAL


def test_after_a_pause_the_state_waits_for_a_judgement_of_what_follows() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    run(m, [0.1, 0.1])  # aggressive, then a pause
    assert m.update(obs(2.0, 0.1, silent=True)) is MoodState.SILENCE
    # Music again, but only the evidence from before the pause is judged yet.
    assert m.update(obs(3.0, 0.1, stale=True)) is MoodState.SILENCE
    # The first patch of the new music: followed at once, no dwell.
    assert m.update(obs(4.0, 0.9)) is MoodState.CALM


@pytest.mark.parametrize(
    "kwargs",
    [{"calm_enter": 0.5, "calm_exit": 0.6}, {"aggressive_enter": 0.5, "aggressive_exit": 0.4},
     {"speech_enter": 0.3, "speech_exit": 0.5}, {"hop_s": 0.0},
     {"speech_confirm_patches": 0}, {"confident_widening": -0.1},
     {"second_patch_after_s": 0.0}],
)  # fmt: skip
def test_inconsistent_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AnalyzerConfig(**kwargs)
