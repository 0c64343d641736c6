"""Window features, named as the original Stream & Chill service named them.

* danceability: essentia's DFA ``Danceability`` (Streich & Herrera 2005) on the window audio
  (``danceability.py`` keeps the audio and calls it);
* bpm: tempo from the autocorrelation of a log-mel spectral-flux onset curve;
* avg_db_deviation: how much the short-term level moves around its mean, in dB;
* loudness_db: the window's mean level, in dBFS.

Why this tempo method: essentia's beat trackers (RhythmExtractor2013 ~265 ms per 30 s,
Percival ~90 ms) are built for whole songs and would blow the 10 ms-per-second budget
if run every hop. The mel frames already exist for the CNN, so their positive flux is a
free onset curve; an FFT autocorrelation over the last 12 s plus a comb over four
harmonics of each candidate lag, with parabolic peak interpolation and a mild log-normal
tempo prior centred on 120 BPM, costs well under a millisecond per hop and lands click
tracks within 1 %. Its weakness is the usual octave ambiguity above ~160 BPM.
"""

from __future__ import annotations

import numpy as np

from streamchill.analyzer.danceability import danceability
from streamchill.analyzer.mel import FRAMES_PER_S, HOP_SIZE
from streamchill.analyzer.ring import Ring

SILENCE_FLOOR_DB = -120.0
LEVEL_BLOCK_HOPS = 8
"""Level blocks of 8 x 256 samples (128 ms): short enough to see dynamics, long enough not
to measure single waveform cycles."""


__all__ = ["HopPowerMeter", "TempoTracker", "danceability", "level_db", "loudness_features"]


def level_db(power: np.ndarray | float) -> np.ndarray:
    """Mean power -> dBFS (a full-scale sine is about -3 dB), floored at -120 dB."""
    return np.maximum(10.0 * np.log10(np.asarray(power, dtype=np.float64) + 1e-12), -120.0)


class HopPowerMeter:
    """Mean power of every 256-sample hop of the 16 kHz stream (same grid as the mel frames)."""

    def __init__(self) -> None:
        self._carry = np.zeros(0, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._carry, samples.astype(np.float32, copy=False)])
        n = len(buf) // HOP_SIZE
        self._carry = buf[n * HOP_SIZE :]
        blocks = buf[: n * HOP_SIZE].reshape(n, HOP_SIZE).astype(np.float64)
        return np.mean(blocks * blocks, axis=1)


def loudness_features(hop_power: np.ndarray) -> tuple[float, float]:
    """(avg_db_deviation, loudness_db) of a window of per-hop powers."""
    n_blocks = len(hop_power) // LEVEL_BLOCK_HOPS
    if n_blocks == 0:
        return 0.0, float(level_db(float(np.mean(hop_power)) if len(hop_power) else 0.0))
    blocks = hop_power[: n_blocks * LEVEL_BLOCK_HOPS].reshape(n_blocks, LEVEL_BLOCK_HOPS)
    db = level_db(blocks.mean(axis=1))
    loudness = float(level_db(float(np.mean(hop_power))))
    audible = db[db > -70.0]
    if len(audible) < 2:
        return 0.0, loudness
    return float(np.mean(np.abs(audible - audible.mean()))), loudness


class TempoTracker:
    """Tempo from mel-flux autocorrelation over a sliding span (see module docstring)."""

    SPAN_S = 12.0
    MIN_BPM = 60.0
    MAX_BPM = 200.0
    MIN_PULSE = 0.3
    """Weighted comb score below which there is no clear pulse (BPM 0). Music with a beat
    scores 0.8-1.2 on the devset; beatless ambient 0.07-0.27, where the best lag wanders."""

    def __init__(self) -> None:
        self._flux = Ring(int(self.SPAN_S * FRAMES_PER_S))
        self._prev: np.ndarray | None = None
        grid = np.arange(self.MIN_BPM, self.MAX_BPM + 0.01, 0.25)
        self._grid_bpm = grid
        self._grid_lag = 60.0 * FRAMES_PER_S / grid
        # Mild prior against octave errors: log-normal around 120 BPM, one octave wide.
        self._prior = np.exp(-0.5 * (np.log2(grid / 120.0) / 1.0) ** 2)

    def push(self, mel_frames: np.ndarray) -> None:
        if len(mel_frames) == 0:
            return
        prev = mel_frames[:1] if self._prev is None else self._prev[None, :]
        stacked = np.concatenate([prev, mel_frames])
        flux = np.maximum(np.diff(stacked, axis=0), 0.0).sum(axis=1)
        self._flux.push(flux.astype(np.float32))
        self._prev = mel_frames[-1].copy()

    def bpm(self) -> float:
        """Current tempo estimate in BPM, or 0.0 when there is no clear pulse."""
        x = self._flux.last(len(self._flux)).astype(np.float64)
        if len(x) < 4 * FRAMES_PER_S:
            return 0.0
        # Remove the slow envelope so sustained notes do not look like a pulse.
        kernel = np.ones(16) / 16.0
        x = np.maximum(x - np.convolve(x, kernel, mode="same"), 0.0)
        if not np.any(x > 0):
            return 0.0
        n = len(x)
        spec = np.fft.rfft(x - x.mean(), 2 * n)
        acf = np.fft.irfft(spec * np.conj(spec))[:n]
        if acf[0] <= 0:
            return 0.0
        acf = acf / acf[0]
        score = np.zeros_like(self._grid_lag)
        for k in (1, 2, 3, 4):
            lags = self._grid_lag * k
            valid = lags < n - 1
            score[valid] += np.interp(lags[valid], np.arange(n), acf) / k
        weighted = score * self._prior
        best = int(np.argmax(weighted))
        if weighted[best] < self.MIN_PULSE:
            return 0.0
        # The prior halves fast tempi whose every lag multiple also fits the slow one; when
        # the half lag itself is a strong peak, the pulse really is twice as fast.
        lag = self._grid_lag[best]
        double = np.searchsorted(self._grid_bpm, 2 * self._grid_bpm[best])
        if double < len(score) and _peak_near(acf, lag / 2) > 0.6 * _peak_near(acf, lag):
            best = int(double)
        # Parabolic refinement on the grid.
        if 0 < best < len(score) - 1:
            a, b, c = score[best - 1 : best + 2]
            denom = a - 2 * b + c
            offset = 0.5 * (a - c) / denom if denom != 0 else 0.0
            step = self._grid_bpm[1] - self._grid_bpm[0]
            return float(self._grid_bpm[best] + np.clip(offset, -0.5, 0.5) * step)
        return float(self._grid_bpm[best])


def _peak_near(acf: np.ndarray, lag: float) -> float:
    """Largest autocorrelation within one frame of a fractional lag (frames quantise onsets)."""
    lo = max(0, int(np.floor(lag)) - 1)
    hi = min(len(acf), int(np.ceil(lag)) + 2)
    return float(acf[lo:hi].max()) if hi > lo else 0.0
