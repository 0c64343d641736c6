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
    units of the reference's own per-band spread. The offset says where in ``recent`` the
    new music starts: the mean of the frames after a candidate start moves furthest from
    the reference once the candidate is past the true change, and stays there; we take the
    earliest candidate that reaches 90 % of that plateau plus one step of margin, so the
    first new patch holds as little of the old music as possible.
    """
    ref_mean = ref.mean(axis=0)
    spread = ref.std(axis=0) + SPREAD_FLOOR
    distance = _z_distance(recent.mean(axis=0), ref_mean, spread)
    step = 4
    candidates = range(0, len(recent) - 16, step)
    dists = np.array([_z_distance(recent[k:].mean(axis=0), ref_mean, spread) for k in candidates])
    if len(dists) == 0:
        return distance, 0
    first = int(np.argmax(dists >= 0.9 * dists.max()))
    # One step of margin: a loud tail of the old music weighs more in a patch than a late
    # start does.
    return distance, int(candidates[min(first + 1, len(dists) - 1)])


def steady_kind(frames: np.ndarray, config: AnalyzerConfig) -> str | None:
    """``steady_tone`` (sine, hum), ``noise`` (white/pink/brown), or None for anything else.

    Three statistics of the last 3 s of log-mel frames: a tone does not move at all; noise
    moves frame to frame but with no temporal structure and no change of its 0.5 s average.
    """
    if len(frames) < PATCH_FRAMES:
        return None
    frames = frames[-PATCH_FRAMES:]
    centred = frames - frames.mean(axis=0)
    spread = centred.std(axis=0) + 1e-6
    if float(spread.mean()) < config.tone_spread:
        return "steady_tone"
    lag = 4
    autocorr = (centred[lag:] * centred[:-lag]).mean(axis=0) / spread**2
    blocks = frames[: 6 * 31].reshape(6, 31, N_MELS).mean(axis=1)
    if (
        float(np.median(autocorr)) < config.noise_autocorr
        and float(blocks.std(axis=0).mean()) < config.noise_block_spread
    ):
        return "noise"
    return None
