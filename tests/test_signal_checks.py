"""The per-hop checks on mel frames: where music changes, and what is not music at all."""

from __future__ import annotations

import numpy as np
import pytest

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import mel_frames
from streamchill.analyzer.signal_checks import novelty, steady_kind
from tests.support.signals import click_track, mains_hum, pink_noise, sine, white_noise


def test_novelty_finds_where_the_new_sound_starts() -> None:
    old = mel_frames(click_track(120, 8.0))
    new = mel_frames(pink_noise(3.0) + sine(300, 3.0))
    ref, recent_old = old[:-60], old[-60:]
    recent = np.concatenate([recent_old[:30], new[:64]])  # the change is 30 frames in
    distance, offset = novelty(ref, recent)
    assert distance > AnalyzerConfig().novelty_threshold
    assert 28 <= offset <= 40, "located at the change, erring late rather than early"


def test_novelty_places_a_fade_in_where_it_starts_not_where_it_is_loud() -> None:
    """The new piece's first second differs less than its next (a 1.5 s fade-in): the
    change is where the frames split best, not where the new frames differ most."""
    old = mel_frames(click_track(120, 8.0))
    sound = pink_noise(3.0) + sine(300, 3.0)
    fade = np.minimum(1.0, np.arange(len(sound)) / (1.5 * 16_000)).astype(np.float32)
    new = mel_frames(sound * fade)
    ref, recent_old = old[:-60], old[-60:]
    recent = np.concatenate([recent_old[:10], new[:84]])  # the change is 10 frames in
    distance, offset = novelty(ref, recent)
    assert distance > AnalyzerConfig().novelty_threshold
    assert 10 <= offset <= 26, "within a quarter second after the start of the fade"


def test_novelty_is_quiet_inside_one_steady_texture() -> None:
    frames = mel_frames(click_track(120, 10.0))
    distance, _ = novelty(frames[:-94], frames[-94:])
    assert distance < AnalyzerConfig().novelty_threshold


@pytest.mark.parametrize(
    ("signal", "kind"),
    [(sine(440, 4), "steady_tone"), (mains_hum(4), "steady_tone"),
     (white_noise(4), "noise"), (pink_noise(4), "noise")],
    ids=["sine", "hum", "white", "pink"],
)  # fmt: skip
def test_tones_and_noise_are_named(signal: np.ndarray, kind: str) -> None:
    frames = mel_frames(signal)[8 : 8 + 187]  # away from the zero-padded ends
    assert steady_kind(frames, AnalyzerConfig()) == kind


def test_music_and_short_input_are_not_steady(examples_16k: dict) -> None:
    config = AnalyzerConfig()
    for name in ("calm", "aggressive", "speech"):
        frames = mel_frames(examples_16k[name])
        assert all(
            steady_kind(frames[s : s + 187], config) is None
            for s in range(0, len(frames) - 187, 62)
        ), name
    assert steady_kind(mel_frames(sine(440, 1.0)), config) is None  # under 3 s: no verdict
