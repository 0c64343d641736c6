"""Edge-of-analyzer audio conversion: any PCM layout in, mono float32 at 16 kHz out.

Conversion happens exactly once per stream, with a streaming resampler (soxr), so a
stream's result does not depend on how its audio was chunked.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import soxr

from streamchill.analyzer.errors import AudioFormatError

TARGET_RATE_HZ = 16_000
"""The CNN's input rate; every stream is converted to it once."""
MIN_RATE_HZ = 8_000
MAX_RATE_HZ = 192_000
MAX_CHANNELS = 8


class SampleFormat(StrEnum):
    """Wire sample formats (little-endian, interleaved)."""

    F32LE = "f32le"
    S16LE = "s16le"

    @property
    def bytes_per_sample(self) -> int:
        return 4 if self is SampleFormat.F32LE else 2


def validate_layout(sample_rate_hz: int, channels: int) -> None:
    """Reject layouts we do not support, with a message naming the accepted range."""
    if not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise AudioFormatError(
            f"sample_rate_hz={sample_rate_hz} is outside {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFormatError(f"channels={channels} is outside 1..{MAX_CHANNELS}")


class FrameCutter:
    """Cuts a PCM byte stream into whole sample frames, carrying a partial frame over.

    Network frames need not end on a sample boundary; the remainder waits for the next
    chunk instead of being dropped or misaligned (so dropping one whole output chunk never
    shifts the channels of what follows).
    """

    MAX_CARRY_BYTES = MAX_CHANNELS * 4

    def __init__(self, sample_format: SampleFormat, channels: int) -> None:
        self.sample_format = SampleFormat(sample_format)
        self.frame_bytes = channels * self.sample_format.bytes_per_sample
        self.carry = b""

    def push(self, data: bytes) -> bytes:
        """The whole frames completed by ``data`` (may be empty)."""
        buf = self.carry + data if self.carry else bytes(data)
        usable = len(buf) - len(buf) % self.frame_bytes
        self.carry = buf[usable:]
        return buf[:usable]


class PcmDecoder:
    """Turns interleaved PCM bytes into float32 frames (whole frames only; see FrameCutter)."""

    def __init__(self, sample_format: SampleFormat, channels: int) -> None:
        self.sample_format = SampleFormat(sample_format)
        self.channels = channels
        self._cutter = FrameCutter(self.sample_format, channels)

    def decode(self, data: bytes) -> np.ndarray:
        """Decode ``data`` to an array of shape [frames, channels], float32 in [-1, 1]."""
        chunk = self._cutter.push(data)
        if self.sample_format is SampleFormat.S16LE:
            samples = np.frombuffer(chunk, dtype="<i2").astype(np.float32) / 32768.0
        else:
            # Read-only view of the bytes: tame() and to_mono() copy before they change anything.
            samples = tame(np.frombuffer(chunk, dtype="<f4").astype(np.float32, copy=False))
        return samples.reshape(-1, self.channels)

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self._cutter.carry)


def tame(samples: np.ndarray) -> np.ndarray:
    """Float samples made safe: NaN -> 0, +-inf -> +-1, everything clipped to [-1, 1].

    NaN/inf would poison every later window; we zero them rather than fail the stream.
    The common case (finite, in range) costs one pass and no copy.
    """
    if not samples.size:
        return samples
    # Two reductions decide the common case: NaN fails both comparisons, +-inf one of them.
    if samples.min() >= -1.0 and samples.max() <= 1.0:
        return samples
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(samples, -1.0, 1.0)


def to_mono(frames: np.ndarray) -> np.ndarray:
    """Average channels: [frames, channels] (or [frames]) -> [frames] float32."""
    if frames.ndim == 1:
        return frames.astype(np.float32, copy=False)
    # Every path below returns a new array: the session holds 16 kHz audio until its hop
    # ends, and a capture loop may refill the array it fed for the next block.
    # Column sums in channel order, then one division: the same float32 operations as
    # ``frames.mean(axis=1, dtype=np.float32)``, without its strided reduction (which cost
    # ~1 ms per second of 44.1 kHz stereo, more than the resampler).
    frames = frames.astype(np.float32, copy=False)
    channels = frames.shape[1]
    if channels == 2:  # the browser's layout: one sum, one division, no copy first
        return (frames[:, 0] + frames[:, 1]) / np.float32(2)
    total = frames[:, 0].copy()
    for c in range(1, channels):
        total += frames[:, c]
    return total / np.float32(channels) if channels > 1 else total


class Resampler:
    """Streaming mono resampler to 16 kHz; a pass-through when the input already is."""

    def __init__(self, sample_rate_hz: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._stream: soxr.ResampleStream | None = None
        if sample_rate_hz != TARGET_RATE_HZ:
            self._stream = soxr.ResampleStream(
                sample_rate_hz, TARGET_RATE_HZ, 1, dtype="float32", quality="HQ"
            )

    def process(self, mono: np.ndarray, *, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return np.ascontiguousarray(mono, dtype=np.float32)
        out = self._stream.resample_chunk(np.ascontiguousarray(mono, dtype=np.float32), last=last)
        return np.asarray(out, dtype=np.float32).reshape(-1)
