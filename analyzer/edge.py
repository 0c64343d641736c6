"""The audio edge: the one way audio enters analysis, whoever analyses it.

PCM bytes of the declared layout, or arrays, in; mono float32 at 16 kHz out, cut into
pieces that end exactly on hop boundaries. The session, the naive benchmark baseline and
the daemon's ingest (which only needs the byte alignment and the sample policy) share it,
so a stream is decoded, averaged and resampled the same way everywhere, and its events do
not depend on how the caller chunked it.

The sample policy, in one place: float samples that are NaN or infinite are zeroed (+-inf
to +-1), and everything is clipped to [-1, 1] (:func:`~streamchill.analyzer.audio.tame`).
On the wire a frame holding non-finite samples is additionally *reported* (the daemon's
``bad_frame``), because a client sending them is broken; see :meth:`AudioEdge.non_finite`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from streamchill.analyzer.audio import (
    TARGET_RATE_HZ,
    PcmDecoder,
    Resampler,
    SampleFormat,
    tame,
    to_mono,
    validate_layout,
)
from streamchill.analyzer.errors import AudioFormatError


@dataclass(frozen=True, slots=True)
class Piece:
    """Mono 16 kHz samples; ``ends_hop`` when the last sample completes a hop."""

    samples: np.ndarray
    ends_hop: bool


class AudioEdge:
    """Decode -> mono -> resample (streaming) -> pieces ending on hop boundaries."""

    def __init__(
        self,
        *,
        sample_rate_hz: int,
        channels: int,
        sample_format: SampleFormat | str,
        hop_samples: int,
        stream: str = "",
    ) -> None:
        validate_layout(sample_rate_hz, channels)
        self.channels = channels
        self.stream = stream
        self._decoder = PcmDecoder(SampleFormat(sample_format), channels)
        self._resampler = Resampler(sample_rate_hz)
        self._hop_samples = hop_samples
        self.samples = 0
        """16 kHz samples delivered so far."""
        self._next_hop = hop_samples

    @property
    def media_time_s(self) -> float:
        return self.samples / TARGET_RATE_HZ

    def feed(self, block: bytes | bytearray | memoryview | np.ndarray) -> Iterator[Piece]:
        """Convert a block; yield its pieces (a partial PCM frame waits for the next block)."""
        if isinstance(block, bytes | bytearray | memoryview):
            frames = self._decoder.decode(bytes(block))
        else:
            frames = self._array(block)
        return self._cut(self._resampler.process(to_mono(frames)))

    def finish(self) -> Iterator[Piece]:
        """End of stream: what the resampler still holds."""
        return self._cut(self._resampler.process(np.zeros(0, np.float32), last=True))

    @staticmethod
    def non_finite(chunk: bytes, sample_format: SampleFormat | str) -> bool:
        """Whether aligned PCM bytes hold NaN or infinite samples (only floats can)."""
        if SampleFormat(sample_format) is not SampleFormat.F32LE or not chunk:
            return False
        samples = np.frombuffer(chunk, dtype="<f4")
        # max() propagates NaN and +inf, min() -inf: two reductions, no boolean array.
        return not (np.isfinite(samples.max()) and np.isfinite(samples.min()))

    def _array(self, block: np.ndarray) -> np.ndarray:
        arr = np.asarray(block)
        if arr.ndim == 1:
            arr = arr.reshape(-1, self.channels)
        if arr.ndim != 2 or arr.shape[1] != self.channels:
            raise AudioFormatError(
                f"stream {self.stream!r} declared {self.channels} channel(s) but got an array "
                f"of shape {np.asarray(block).shape}"
            )
        if arr.dtype == np.int16:
            return arr.astype(np.float32) / 32768.0
        if arr.dtype not in (np.float32, np.float64):
            raise AudioFormatError(f"unsupported sample dtype {arr.dtype}; use float32 or int16")
        return tame(arr.astype(np.float32, copy=False))

    def _cut(self, samples: np.ndarray) -> Iterator[Piece]:
        pos = 0
        while pos < len(samples):
            take = min(len(samples) - pos, self._next_hop - self.samples)
            piece = samples[pos : pos + take]
            pos += take
            self.samples += take
            ends_hop = self.samples == self._next_hop
            if ends_hop:
                self._next_hop += self._hop_samples
            yield Piece(piece, ends_hop)


class HeldSamples:
    """16 kHz pieces held back, then analysed in one step.

    A live stream sends 0.1 s blocks; the session holds their pieces until a hop ends or a
    due patch completes, so every per-sample stage (mel, tempo, levels, DFA sums) runs once
    a hop instead of ten times. Those stages do not depend on the chunking, so the events
    are the same; the work only moves to the block that completes the hop.
    """

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, samples: np.ndarray) -> None:
        self._parts.append(samples)
        self._n += len(samples)

    def take(self) -> np.ndarray:
        """Everything held, oldest first (empty when nothing is); the holder is emptied."""
        parts, self._parts, self._n = self._parts, [], 0
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
