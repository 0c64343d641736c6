"""The analyzer's audio edge: any declared PCM layout in, mono 16 kHz out, chunking-proof."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchill.analyzer.audio import PcmDecoder, Resampler, SampleFormat, to_mono, validate_layout
from streamchill.analyzer.errors import AudioFormatError


def test_s16le_split_anywhere_decodes_like_the_whole() -> None:
    rng = np.random.default_rng(0)
    ints = rng.integers(-32768, 32767, size=(1000, 2), dtype=np.int16)
    data = ints.tobytes()
    whole = PcmDecoder(SampleFormat.S16LE, 2).decode(data)
    pieces = PcmDecoder(SampleFormat.S16LE, 2)
    cuts = [0, 1, 3, 7, 100, 1001, 2222, len(data)]
    parts = [pieces.decode(data[a:b]) for a, b in itertools.pairwise(cuts)]
    assert np.array_equal(np.concatenate(parts), whole)
    assert np.allclose(whole, ints / 32768.0)
    assert pieces.pending_bytes == 0


@given(st.binary(max_size=4096), st.integers(1, 8), st.sampled_from(list(SampleFormat)))
@settings(max_examples=200, deadline=None)
def test_any_bytes_decode_to_bounded_finite_samples(
    data: bytes, channels: int, fmt: SampleFormat
) -> None:
    out = PcmDecoder(fmt, channels).decode(data)
    assert out.shape[1] == channels
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)


def test_float_nan_and_overrange_are_tamed() -> None:
    raw = np.array([np.nan, np.inf, -np.inf, 3.0, -0.5], dtype="<f4").tobytes()
    out = PcmDecoder(SampleFormat.F32LE, 1).decode(raw)[:, 0]
    assert out.tolist() == [0.0, 1.0, -1.0, 1.0, -0.5]


@pytest.mark.parametrize(("rate", "channels"), [(7999, 1), (192_001, 2), (44_100, 0), (48_000, 9)])
def test_unsupported_layouts_are_rejected_with_the_accepted_range(rate: int, channels: int) -> None:
    with pytest.raises(AudioFormatError, match=r"outside"):
        validate_layout(rate, channels)


def test_downmix_averages_channels() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, -0.5]], np.float32)
    assert to_mono(stereo).tolist() == [0.5, 0.0]


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000, 96_000, 192_000])
def test_streaming_resampler_is_chunking_invariant(rate: int) -> None:
    x = np.random.default_rng(1).standard_normal(rate * 2).astype(np.float32) * 0.1

    def run(chunk: int) -> np.ndarray:
        r = Resampler(rate)
        parts = [r.process(x[i : i + chunk]) for i in range(0, len(x), chunk)]
        parts.append(r.process(np.zeros(0, np.float32), last=True))
        return np.concatenate(parts)

    a, b = run(rate // 100), run(len(x))
    assert len(a) == len(b) == 32_000
    assert np.allclose(a, b, atol=1e-6)
