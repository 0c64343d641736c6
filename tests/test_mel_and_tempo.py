"""Mel frames match essentia's TensorflowInputMusiCNN; click-track tempo within 2 %."""

from __future__ import annotations

import numpy as np
import pytest

from streamchill.analyzer.essentia_lib import essentia_standard
from streamchill.analyzer.features import TempoTracker, loudness_features
from streamchill.analyzer.mel import MelFrameStream, mel_frames
from tests.support.signals import click_track


@pytest.mark.parametrize("n_samples", [1000, 16_000 * 5 + 123, 16_000 * 30])
def test_streamed_mel_frames_equal_essentia_frame_generator(n_samples: int) -> None:
    x = np.random.default_rng(n_samples).standard_normal(n_samples).astype(np.float32) * 0.1
    es = essentia_standard()
    mel = es.TensorflowInputMusiCNN()
    reference = np.array(
        [mel(f) for f in es.FrameGenerator(x, frameSize=512, hopSize=256, startFromZero=False)]
    )
    for chunk in (37, 1600, n_samples):
        stream = MelFrameStream()
        parts = [stream.push(x[i : i + chunk]) for i in range(0, n_samples, chunk)]
        parts.append(stream.flush())
        assert np.allclose(np.concatenate(parts), reference, rtol=0, atol=1e-5)
    assert np.allclose(mel_frames(x), reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("bpm", [60, 72, 90, 100, 120, 128, 140, 150, 174, 190])
def test_click_track_tempo_within_two_percent(bpm: float) -> None:
    tracker = TempoTracker()
    tracker.push(mel_frames(click_track(bpm, 15.0)))
    assert tracker.bpm() == pytest.approx(bpm, rel=0.02)


def test_no_pulse_gives_zero_bpm() -> None:
    tracker = TempoTracker()
    tracker.push(mel_frames(np.zeros(16_000 * 10, np.float32)))
    assert tracker.bpm() == 0.0


def test_level_features_see_dynamics() -> None:
    steady = np.full(16_000 // 256 * 10, 0.01)
    assert loudness_features(steady) == pytest.approx((0.0, -20.0))
    alternating = np.tile(np.repeat([0.01, 0.0001], 8 * 4), 20)
    deviation, _ = loudness_features(alternating)
    assert deviation == pytest.approx(10.0, abs=0.1)
