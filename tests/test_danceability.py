"""The danceability meter gives essentia's DFA value of exactly the window it is asked for."""

from __future__ import annotations

import numpy as np
import pytest

from streamchill.analyzer.danceability import DanceabilityMeter, danceability
from streamchill.analyzer.essentia_lib import essentia_standard
from tests.support.signals import white_noise

RATE = 16_000


def essentia_danceability(x: np.ndarray) -> float:
    value, _dfa = essentia_standard().Danceability(sampleRate=RATE)(x.astype(np.float32))
    return float(value)


def music_16k(examples_16k: dict) -> np.ndarray:
    return np.concatenate([examples_16k["aggressive"], examples_16k["calm"]])


def test_too_short_is_zero() -> None:
    assert danceability(white_noise(2.4)) == 0.0


def test_the_meter_gives_the_value_of_the_window_it_was_asked_for(examples_16k: dict) -> None:
    x = music_16k(examples_16k)
    meter = DanceabilityMeter(31.0)
    for i in range(0, len(x), 4_410):  # pieces of any size
        meter.push(x[i : i + 4_410])
    held = x.astype(np.float16).astype(np.float32)  # the meter keeps float16 audio
    end = (len(x) // 256) * 256
    start = end - 30 * RATE
    assert meter.value(start, end) == pytest.approx(essentia_danceability(held[start:end]))
    # Older audio is gone: the window is clipped to the 31 s held.
    assert meter.held_start > 0
    clipped = held[meter.held_start : end]
    assert meter.value(0, end) == pytest.approx(essentia_danceability(clipped))
    with pytest.raises(ValueError, match="samples held"):
        meter.value(start, meter.samples + 1)
