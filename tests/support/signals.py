"""Deterministic test signals, made in numpy so tests need no extra data."""

from __future__ import annotations

import numpy as np


def click_track(bpm: float, seconds: float, sample_rate_hz: int = 16_000) -> np.ndarray:
    """Short 1 kHz blips at an exact tempo (float32 mono)."""
    x = np.zeros(int(seconds * sample_rate_hz), np.float32)
    blip_n = int(0.0125 * sample_rate_hz)
    blip = np.sin(2 * np.pi * 1000 * np.arange(blip_n) / sample_rate_hz) * np.hanning(blip_n)
    period = 60.0 / bpm * sample_rate_hz
    k = 0
    while round(k * period) + blip_n < len(x):
        i = round(k * period)
        x[i : i + blip_n] += 0.8 * blip.astype(np.float32)
        k += 1
    return x


def sine(
    freq_hz: float, seconds: float, sample_rate_hz: int = 16_000, amp: float = 0.5
) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def mains_hum(seconds: float, sample_rate_hz: int = 16_000) -> np.ndarray:
    """50 Hz hum with its odd harmonics, as a bad ground loop sounds."""
    return sum(
        (sine(50 * k, seconds, sample_rate_hz, amp=0.3 / k) for k in (1, 3, 5, 7)),
        start=np.zeros(int(seconds * sample_rate_hz), np.float32),
    )


def white_noise(seconds: float, sample_rate_hz: int = 16_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal(int(seconds * sample_rate_hz))).astype(np.float32)


def pink_noise(seconds: float, sample_rate_hz: int = 16_000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate_hz)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    x = np.fft.irfft(spec, n)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)
