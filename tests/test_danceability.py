"""DFA danceability from running sums equals essentia's ``Danceability`` (its reference)."""

from __future__ import annotations

import numpy as np
import pytest

from streamchill.analyzer.danceability import DanceabilityMeter, danceability
from streamchill.analyzer.essentia_lib import essentia_standard
from tests.support.signals import click_track, white_noise

RATE = 16_000


def essentia_danceability(x: np.ndarray) -> float:
    value, _dfa = essentia_standard().Danceability(sampleRate=RATE)(x.astype(np.float32))
    return float(value)


def music_16k(examples_16k: dict) -> np.ndarray:
    return np.concatenate([examples_16k["aggressive"], examples_16k["calm"]])


def test_music_windows_match_essentia(examples_16k: dict) -> None:
    x = music_16k(examples_16k)
    for start, seconds in [(0, 30.0), (RATE * 7 + 96, 30.0), (RATE * 3, 12.0), (0, 2.6)]:
        window = x[start : start + int(seconds * RATE)]
        assert danceability(window) == pytest.approx(essentia_danceability(window), abs=5e-5)


@pytest.mark.parametrize(
    "signal",
    [
        np.zeros(RATE * 5, np.float32),
        np.full(RATE * 5, 0.25, np.float32),
        white_noise(12.0),
        click_track(128.0, 12.0),
    ],
    ids=["silence", "dc", "noise", "clicks"],
)
def test_edge_cases_match_essentia(signal: np.ndarray) -> None:
    assert danceability(signal) == pytest.approx(essentia_danceability(signal), abs=5e-5)


def test_too_short_is_zero() -> None:
    assert danceability(white_noise(2.4)) == 0.0


def test_the_meter_gives_the_value_of_the_window_it_was_asked_for(examples_16k: dict) -> None:
    x = music_16k(examples_16k)
    meter = DanceabilityMeter(31.0)
    for i in range(0, len(x), 4_410):  # pieces that do not end on blocks
        meter.push(x[i : i + 4_410])
    end = (len(x) // 256) * 256
    start = end - 30 * RATE
    assert meter.value(start, end) == pytest.approx(danceability(x[start:end]), abs=1e-9)
    # Older audio is gone: the window is clipped to the 31 s held.
    assert meter.held_start > 0
    assert meter.value(0, end) == pytest.approx(danceability(x[meter.held_start : end]), abs=1e-9)
    with pytest.raises(ValueError, match="not on a 32-sample block"):
        meter.value(start, end - 1)
