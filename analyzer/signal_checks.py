"""Cheap checks on log-mel frames that run every hop, before or beside the CNN.

* :func:`novelty` — has the music changed, and where exactly?
* :func:`steady_kind` — is this a steady tone, hum or noise rather than music?

Pure functions of arrays, so they are tested and tuned on their own (the devset
measurements behind the thresholds are in :class:`streamchill.analyzer.config.AnalyzerConfig`).
"""

from __future__ import annotations

import numpy as np

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import N_MELS, PATCH_FRAMES

SPREAD_FLOOR = 0.05
"""Added to the reference's per-band spread so near-silent bands do not blow up the z-scores."""


def _z_distance(a_mean: np.ndarray, ref_mean: np.ndarray, spread: np.ndarray) -> float:
    return float(np.sqrt(np.mean(((a_mean - ref_mean) / spread) ** 2)))


def novelty(ref: np.ndarray, recent: np.ndarray) -> tuple[float, int]:
    """(distance, change offset in frames) of ``recent`` frames against ``ref`` frames.

    The distance is the RMS z-score of the recent mean log-mel against the reference, in
    units of the reference's own per-band spread.

    The offset says where in ``recent`` the new music starts: the candidate start that best
    splits the frames in two (the reference and the recent frames before it; the recent
    frames from it on), by the distance of the two means weighted by
    ``sqrt(n_before * n_after / n)`` (a CUSUM change point: a start before the change
    dilutes the new mean with old frames, one after it leaves fewer new frames to show it),
    plus one step of margin, so the first new patch holds as little of the old music as
    possible. It replaced the earliest candidate whose tail mean reached 90 % of the
    furthest one, which put the change up to 1.7 s late when the cut lay near the start of
    ``recent`` and the new piece's first second differed less than its next (a fade-in, a
    quiet intro): at the 217 cuts of the transitions benchmark's first 32 sequences where
    novelty fired within 2 s, the mean error went 0.18 -> 0.14 s, cuts placed over 0.5 s
    late 19 -> 6 (latest 1.66 -> 0.78 s), over 0.2 s early 4 -> 7 (earliest -1.32 s both).
    """
    ref_mean = ref.mean(axis=0)
    spread = _column_rms(ref - ref_mean) + SPREAD_FLOOR
    distance = _z_distance(recent.mean(axis=0), ref_mean, spread)
    step = 4
    n, m = len(recent), len(ref)
    starts = np.arange(0, n - 16, step)
    if len(starts) == 0:
        return distance, 0
    # Every candidate's tail mean ``recent[k:]`` and head sum ``recent[:k]`` from cumulative
    # sums (float64, so the differences of sums lose nothing), not one mean per candidate.
    tail_sums = np.cumsum(recent[::-1], axis=0, dtype=np.float64)[::-1]
    tail_means = tail_sums[starts] / (n - starts)[:, None]
    head_sums = tail_sums[0] - tail_sums[starts]
    before_means = (ref_mean * m + head_sums) / (m + starts)[:, None]
    dists = np.sqrt(np.mean(((tail_means - before_means) / spread) ** 2, axis=1))
    best = int(np.argmax(dists * np.sqrt((n - starts) * (m + starts) / (m + n))))
    # One step of margin: a loud tail of the old music weighs more in a patch than a late
    # start does.
    return distance, int(starts[min(best + 1, len(dists) - 1)])


def steady_kind(frames: np.ndarray, config: AnalyzerConfig) -> str | None:
    """``steady_tone`` (sine, hum), ``noise`` (white/pink/brown), or None for anything else.

    Three statistics of the last 3 s of log-mel frames: a tone does not move at all; noise
    moves frame to frame but with no temporal structure and no change of its 0.5 s average.
    """
    if len(frames) < PATCH_FRAMES:
        return None
    frames = frames[-PATCH_FRAMES:]
    centred = frames - frames.mean(axis=0)
    spread = _column_rms(centred) + 1e-6
    if float(spread.mean()) < config.tone_spread:
        return "steady_tone"
    lag = 4
    autocorr = np.einsum("ij,ij->j", centred[lag:], centred[:-lag]) / (len(centred) - lag)
    autocorr /= spread**2
    if float(_median(autocorr)) >= config.noise_autocorr:
        return None  # temporal structure: not noise (the block check is not needed)
    blocks = frames[: 6 * 31].reshape(6, 31, N_MELS).mean(axis=1)
    if float(blocks.std(axis=0).mean()) < config.noise_block_spread:
        return "noise"
    return None


def _column_rms(centred: np.ndarray) -> np.ndarray:
    """Per-column standard deviation of columns whose mean is already removed.

    One product-sum instead of ``std``'s second mean and temporary array: the hop's checks
    run on every stream every second."""
    return np.sqrt(np.einsum("ij,ij->j", centred, centred) / len(centred))


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-d array by partition (the same value, a fraction of its overhead)."""
    n = len(values)
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float(np.mean(part[half - 1 : half + 1]))
