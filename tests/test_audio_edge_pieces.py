"""The audio edge cuts any chunking of a stream into the same hop-aligned pieces."""

from __future__ import annotations

import numpy as np
import pytest

from streamchill.analyzer.audio import SampleFormat
from streamchill.analyzer.edge import AudioEdge
from streamchill.analyzer.errors import AudioFormatError

HOP = 16_000


def edge(rate: int = 16_000, channels: int = 1) -> AudioEdge:
    return AudioEdge(
        sample_rate_hz=rate, channels=channels, sample_format=SampleFormat.F32LE, hop_samples=HOP
    )


def run(e: AudioEdge, blocks: list[bytes]) -> tuple[np.ndarray, list[int]]:
    out, hops = [], []
    for block in blocks:
        for piece in e.feed(block):
            out.append(piece.samples)
            if piece.ends_hop:
                hops.append(e.samples)
    for piece in e.finish():
        out.append(piece.samples)
    return np.concatenate(out), hops


@pytest.mark.parametrize("chunk_bytes", [3, 4000, 7 * 4 + 1, 64_000])
def test_any_chunking_gives_the_same_samples_and_hop_boundaries(chunk_bytes: int) -> None:
    rng = np.random.default_rng(1)
    stereo = (rng.standard_normal((44_100 * 3, 2)) * 0.1).astype("<f4").tobytes()
    whole, whole_hops = run(edge(44_100, 2), [stereo])
    blocks = [stereo[i : i + chunk_bytes] for i in range(0, len(stereo), chunk_bytes)]
    pieces, hops = run(edge(44_100, 2), blocks)
    np.testing.assert_array_equal(pieces, whole)
    assert hops == whole_hops == [HOP, 2 * HOP]


def test_arrays_and_bytes_follow_one_sample_policy() -> None:
    raw = np.array([np.nan, np.inf, -np.inf, 3.0, -0.5], dtype="<f4")
    from_bytes, _ = run(edge(), [raw.tobytes()])
    e = edge()
    from_array = np.concatenate([p.samples for p in e.feed(raw)])
    np.testing.assert_array_equal(from_bytes, [0.0, 1.0, -1.0, 1.0, -0.5])
    np.testing.assert_array_equal(from_array, from_bytes)


def test_the_wire_check_flags_non_finite_floats_only() -> None:
    assert AudioEdge.non_finite(np.array([0.0, np.nan], "<f4").tobytes(), "f32le")
    assert not AudioEdge.non_finite(np.array([0.0, 0.5], "<f4").tobytes(), "f32le")
    assert not AudioEdge.non_finite(b"\xff\x7f\x00\x80", "s16le")


def test_an_array_of_the_wrong_layout_is_refused_with_its_shape() -> None:
    with pytest.raises(AudioFormatError, match=r"declared 2 channel\(s\).*\(10, 3\)"):
        list(edge(channels=2).feed(np.zeros((10, 3), np.float32)))
