"""DFA danceability (Streich & Herrera 2005) as essentia's ``Danceability`` defines it, from
running sums of the stream instead of a 30 s copy of its audio.

The measure: the signal's standard deviation in 10 ms frames, mean removed and integrated;
for each segment length tau (31..871 frames, x1.1 steps) the mean residual of a straight
line fitted to every tau-long segment (start step ``max(tau // 50, 1)``), F(tau) its root;
danceability = 1 / mean slope of log F against log (tau + 3). Values match essentia's
float32 implementation within ~3e-5 on music (tests/test_danceability.py holds them to it).

Why not call essentia: its algorithm costs ~9 ms per 30 s window (every residual summed
frame by frame) and needs the window's audio, which the session kept as a 30 s float16
ring for this alone (2 MB a stream with the ring's double buffer). Here the residuals come
from prefix sums, all tau at once (~2 ms), and the session keeps only the sum and the sum
of squares of every 32-sample block (0.5 MB): 32 divides both the 10 ms frame (160
samples) and the mel hop (256) on which windows end, so any window the session asks for
is whole blocks.
"""

from __future__ import annotations

import functools

import numpy as np

from streamchill.analyzer.ring import Ring

RATE_HZ = 16_000
FRAME = 160
"""10 ms at 16 kHz: the DFA's frame."""
BLOCK = 32
"""Running sums are kept per 32 samples (see the module docstring)."""
MIN_SAMPLES = int(RATE_HZ * 2.5)
"""Shorter windows are not judged (danceability 0)."""


def _taus() -> tuple[int, ...]:
    """Segment lengths in frames: 310 ms to 8.8 s, each 1.1 times the last, stepped in
    float32 as essentia steps them (so the truncated lengths are the same)."""
    out, tau, step = [], np.float32(310.0), np.float32(1.1)
    while tau <= np.float32(8800.0):
        out.append(int(float(tau) / 10.0))
        tau = np.float32(tau * step)
    return tuple(out)


TAUS = _taus()


@functools.lru_cache(maxsize=16)
def _plan(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For ``n`` frames: (taus used, each segment's start, its tau, its tau's index,
    the number of segments each tau's mean divides by)."""
    taus = np.array([t for t in TAUS if t <= n], dtype=np.int64)
    starts, sizes, which = [], [], []
    for i, tau in enumerate(taus):
        k = np.arange(0, n - tau, max(tau // 50, 1))
        starts.append(k)
        sizes.append(np.full(len(k), tau))
        which.append(np.full(len(k), i))
    jumps = np.maximum(taus // 50, 1)
    divisor = (n - taus) / jumps
    return taus, np.concatenate(starts), np.concatenate(sizes), np.concatenate(which), divisor


def dfa_danceability(frame_std: np.ndarray) -> float:
    """Danceability from the 10 ms frames' standard deviations (see the module docstring)."""
    n = len(frame_std)
    taus, k, tau, which, divisor = _plan(n)
    if len(taus) < 2:
        return 0.0
    s = frame_std.astype(np.float64)
    y = np.cumsum(s - s.mean())
    # Prefix sums of y, y^2 and i*y give every segment's least-squares residual at once.
    p1 = np.concatenate(([0.0], np.cumsum(y)))
    p2 = np.concatenate(([0.0], np.cumsum(y * y)))
    pi = np.concatenate(([0.0], np.cumsum(np.arange(n) * y)))
    end = k + tau
    sy = p1[end] - p1[k]
    syy = p2[end] - p2[k] - sy * sy / tau
    sxy = pi[end] - pi[k] - (k + (tau - 1) * 0.5) * sy
    sxx = tau * (tau * tau - 1) / 12.0
    residual = (syy - sxy * sxy / sxx) / tau
    total = np.bincount(which, weights=residual, minlength=len(taus))
    fluct = np.where(taus == n, 0.0, np.sqrt(np.maximum(total, 0.0) / divisor))
    if np.any(fluct[1:] == 0.0):
        return 0.0
    with np.errstate(divide="ignore"):
        slopes = np.log10(fluct[1:] / fluct[:-1]) / np.log10((taus[1:] + 3.0) / (taus[:-1] + 3.0))
    alpha = float(np.mean(slopes))
    return 0.0 if alpha == 0.0 or not np.isfinite(alpha) else 1.0 / alpha


def _frame_std(sums: np.ndarray) -> np.ndarray:
    """10 ms frames' standard deviation (n - 1 in the denominator, as essentia) from
    [blocks, 2] rows of (sum, sum of squares) of 32-sample blocks."""
    per = FRAME // BLOCK
    n = len(sums) // per
    frames = sums[: n * per].reshape(n, per, 2).sum(axis=1)
    var = (frames[:, 1] - frames[:, 0] ** 2 / FRAME) / (FRAME - 1)
    return np.sqrt(np.maximum(var, 0.0))


def _block_sums(samples: np.ndarray) -> np.ndarray:
    blocks = samples.reshape(-1, BLOCK).astype(np.float64)
    return np.stack([blocks.sum(axis=1), np.einsum("ij,ij->i", blocks, blocks)], axis=1)


def danceability(samples_16k: np.ndarray) -> float:
    """DFA danceability of a 16 kHz window (0 for windows shorter than 2.5 s)."""
    if len(samples_16k) < MIN_SAMPLES:
        return 0.0
    whole = len(samples_16k) - len(samples_16k) % BLOCK
    return dfa_danceability(_frame_std(_block_sums(samples_16k[:whole])))


class DanceabilityMeter:
    """Danceability of any recent stretch of a 16 kHz stream, from running block sums."""

    def __init__(self, span_s: float) -> None:
        self._sums = Ring(int(span_s * RATE_HZ) // BLOCK + 1, (2,), dtype="float64")
        self._carry = np.zeros(0, dtype=np.float32)

    def push(self, samples: np.ndarray) -> None:
        buf = np.concatenate([self._carry, samples.astype(np.float32, copy=False)])
        whole = len(buf) - len(buf) % BLOCK
        self._carry = buf[whole:]
        if whole:
            self._sums.push(_block_sums(buf[:whole]))

    @property
    def samples(self) -> int:
        """Samples summed so far (whole blocks)."""
        return self._sums.total * BLOCK

    @property
    def held_start(self) -> int:
        """The oldest sample still summed."""
        return self.samples - len(self._sums) * BLOCK

    def value(self, start_sample: int, end_sample: int) -> float:
        """Danceability of samples [start, end), clipped to what is held.

        ``end_sample`` must lie on a 32-sample block (any mel frame boundary does); a start
        between blocks moves to the next one (only a window length that is not a multiple
        of 2 ms makes one)."""
        if end_sample % BLOCK:
            raise ValueError(f"window end {end_sample} is not on a {BLOCK}-sample block")
        start = max(-(-start_sample // BLOCK) * BLOCK, self.held_start)
        if end_sample > self.samples:
            raise ValueError(f"window ends at {end_sample}, only {self.samples} samples summed")
        if end_sample - start < MIN_SAMPLES:
            return 0.0
        rows = self._sums.since(start // BLOCK)[: (end_sample - start) // BLOCK]
        return dfa_danceability(_frame_std(rows))
