"""Shared fixtures: the shipped example clips, decoded once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "models" / "examples"


def example_path(kind: str) -> Path:
    """The shipped example whose name starts with ``kind`` (calm, aggressive, speech)."""
    matches = sorted(EXAMPLES.glob(f"{kind}-*.ogg"))
    if not matches:
        raise FileNotFoundError(f"no shipped example {kind}-*.ogg in {EXAMPLES}")
    return matches[0]


@pytest.fixture(scope="session")
def decoded_examples() -> dict[str, tuple[np.ndarray, int]]:
    """kind -> (float32 samples [frames, channels], sample_rate_hz) for each shipped example."""
    from streamchill.streamer.sources.decode import decode_file

    out = {}
    for kind in ("calm", "aggressive", "speech"):
        audio = decode_file(example_path(kind))
        out[kind] = (audio.samples, audio.sample_rate_hz)
    return out


@pytest.fixture(scope="session")
def examples_16k(decoded_examples: dict[str, tuple[np.ndarray, int]]) -> dict[str, np.ndarray]:
    """Each example as mono float32 at 16 kHz (for splicing test signals together)."""
    import soxr

    return {
        kind: soxr.resample(samples.mean(axis=1), rate, 16_000).astype(np.float32)
        for kind, (samples, rate) in decoded_examples.items()
    }
