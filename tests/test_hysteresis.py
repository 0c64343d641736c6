"""The state machine: thresholds with hysteresis, a minimum dwell, and exceptions to both."""

from __future__ import annotations

import pytest

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodState
from streamchill.analyzer.hysteresis import MoodStateMachine, Observation


def obs(t: float, p: float, **kw: bool | float) -> Observation:
    base: dict[str, float | bool] = {
        "speech_probability": 0.0, "silent": False, "steady": False, "has_patch": True,
        "fresh_segment": False,
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


def test_silence_is_immediate_and_never_calm() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    run(m, [0.9, 0.9])
    assert m.update(obs(2.0, 0.99, silent=True)) is MoodState.SILENCE


def test_speech_wins_over_calm_and_holds_until_exit_threshold() -> None:
    m = MoodStateMachine(AnalyzerConfig(min_dwell_s=0.0))
    assert m.update(obs(0.0, 0.95, speech_probability=0.8)) is MoodState.SPEECH
    assert m.update(obs(1.0, 0.95, speech_probability=0.45)) is MoodState.SPEECH
    assert m.update(obs(2.0, 0.95, speech_probability=0.2)) is MoodState.CALM


def test_steady_tones_are_neutral_not_calm() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    assert m.update(obs(0.0, 0.99, steady=True)) is MoodState.NEUTRAL


@pytest.mark.parametrize(
    "kwargs",
    [{"calm_enter": 0.5, "calm_exit": 0.6}, {"aggressive_enter": 0.5, "aggressive_exit": 0.4},
     {"speech_enter": 0.3, "speech_exit": 0.5}, {"hop_s": 0.0}],
)  # fmt: skip
def test_inconsistent_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AnalyzerConfig(**kwargs)
