"""The pause share: speech stops between words, most music does not, whatever the voice.

Signals are made here and go through the real musicnn log-mel front end (``mel.py``); the
devset figures behind the thresholds are in ``models/tools/speech_cue_eval.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import PATCH_FRAMES, mel_frames
from streamchill.analyzer.speech_cues import pause_share, speech_bands

RATE_HZ = 16_000


def patch_of(audio: np.ndarray) -> np.ndarray:
    frames = mel_frames(audio.astype(np.float32))
    return frames[20 : 20 + PATCH_FRAMES]  # clear of the zero-padded edges


def syllables(seconds: float = 3.5, rate_hz: float = 4.0, duty: float = 0.4) -> np.ndarray:
    """Voiced bursts (a 140 Hz buzz through a formant-ish band) at a syllabic rate, with
    pauses between them, over a faint noise floor: the shape of speech, not a voice."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    buzz = sum(np.sin(2 * np.pi * 140.0 * k * t) / k for k in range(1, 25))
    gate = ((t * rate_hz) % 1.0) < duty
    return 0.3 * buzz * gate / 4 + 1e-4 * rng.standard_normal(len(t))


def chord(seconds: float = 3.5) -> np.ndarray:
    """Sustained notes with a slow swell: music that never stops."""
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    notes = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0, 880.0))
    return 0.05 * notes * (1.0 + 0.3 * np.sin(2 * np.pi * 0.5 * t))


def test_the_speech_band_is_the_telephone_band() -> None:
    bands = speech_bands()
    assert (bands.start, bands.stop) == (9, 70)  # mel centres 300-3400 Hz of 96 over 0-8 kHz


def test_syllables_with_pauses_are_well_above_the_threshold() -> None:
    assert pause_share(patch_of(syllables())) >= AnalyzerConfig().speech_cue_pauses


def test_sustained_music_has_no_pauses() -> None:
    assert pause_share(patch_of(chord())) < 0.05


def test_syllables_under_a_quiet_bed_still_pause_but_a_loud_bed_fills_them() -> None:
    quiet = pause_share(patch_of(syllables() + 0.02 * chord()))
    loud = pause_share(patch_of(syllables() + 0.5 * chord()))
    assert quiet >= AnalyzerConfig().speech_cue_pauses
    assert loud < quiet


def test_silence_and_a_steady_tone_have_no_pauses() -> None:
    t = np.arange(4 * RATE_HZ) / RATE_HZ
    assert pause_share(patch_of(np.zeros(4 * RATE_HZ))) == 0.0
    assert pause_share(patch_of(0.1 * np.sin(2 * np.pi * 1000.0 * t))) == 0.0


def test_the_share_does_not_depend_on_the_level() -> None:
    x = syllables()
    assert pause_share(patch_of(0.05 * x)) == pytest.approx(pause_share(patch_of(x)), abs=0.02)


def test_frames_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="log-mel frames"):
        pause_share(np.zeros((187, 40), dtype=np.float32))
    assert pause_share(np.zeros((0, 96), dtype=np.float32)) == 0.0
