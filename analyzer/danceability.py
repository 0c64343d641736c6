"""DFA danceability (Streich & Herrera 2005) of any recent stretch of a 16 kHz stream.

The measure is essentia's ``Danceability``: essentia is the feature library we chose, so its
algorithm is called, not re-derived. What this module adds is the bookkeeping around it: the
session pushes every 16 kHz piece once, and asks for the value of the window that ends where
a patch ends (so the value does not depend on how the stream was chunked). The audio is kept
as float16, one hop more than the window (about 1 MB a stream, twice that with the ring's
contiguous copy); the call itself costs ~9-12 ms per 30 s window and runs every
``danceability_interval_s``, off the hop boundaries.
"""

from __future__ import annotations

import numpy as np

from streamchill.analyzer.essentia_lib import essentia_standard
from streamchill.analyzer.ring import Ring

RATE_HZ = 16_000
MIN_SAMPLES = int(RATE_HZ * 2.5)
"""Shorter windows are not judged (danceability 0)."""


def danceability(samples_16k: np.ndarray) -> float:
    """essentia DFA danceability of a 16 kHz window (0 for windows shorter than 2.5 s)."""
    if len(samples_16k) < MIN_SAMPLES:
        return 0.0
    algo = essentia_standard().Danceability(sampleRate=RATE_HZ)
    value, _dfa = algo(np.ascontiguousarray(samples_16k, dtype=np.float32))
    return float(value)


class DanceabilityMeter:
    """Holds the newest ``span_s`` of a 16 kHz stream and judges any window inside it."""

    def __init__(self, span_s: float) -> None:
        self._audio = Ring(int(span_s * RATE_HZ), (), dtype="float16")

    def push(self, samples: np.ndarray) -> None:
        self._audio.push(np.asarray(samples).astype(np.float16))

    @property
    def samples(self) -> int:
        """Samples pushed so far."""
        return self._audio.total

    @property
    def held_start(self) -> int:
        """The oldest sample still held."""
        return self._audio.total - len(self._audio)

    def value(self, start_sample: int, end_sample: int) -> float:
        """Danceability of samples [start, end), clipped to what is held."""
        if end_sample > self.samples:
            raise ValueError(f"window ends at {end_sample}, only {self.samples} samples held")
        start = max(start_sample, self.held_start)
        if end_sample - start < MIN_SAMPLES:
            return 0.0
        window = self._audio.since(start)[: end_sample - start]
        return danceability(window.astype(np.float32))
