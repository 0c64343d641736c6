"""Decode media files (mp3, ogg/opus, m4a/aac, flac, wav, video soundtracks) to PCM.

Uses essentia's AudioLoader, whose bundled FFmpeg covers the common formats, so no
system decoder is needed. Files are decoded whole (batch use); live sources stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamchill.streamer.errors import SourceError


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded file: float32 samples [frames, channels] at its own rate."""

    samples: np.ndarray
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    def blocks(self, block_s: float) -> Iterator[np.ndarray]:
        """Consecutive blocks of ``block_s`` seconds (the last one may be shorter)."""
        step = max(1, int(block_s * self.sample_rate_hz))
        for i in range(0, len(self.samples), step):
            yield self.samples[i : i + step]


def decode_file(path: Path) -> DecodedAudio:
    """Decode ``path``; raise :class:`SourceError` with a one-line reason if it cannot be."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory")
    try:
        with path.open("rb") as fh:
            if not fh.read(1):
                raise SourceError(f"{path}: file is empty")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from exc
    from streamchill.analyzer.essentia_lib import essentia_standard

    es = essentia_standard()
    try:
        audio, rate, n_channels, *_ = es.AudioLoader(filename=str(path))()
    except RuntimeError as exc:
        reason = str(exc).rsplit("error = ", 1)[-1].strip() or "unknown decoder error"
        raise SourceError(f"{path}: not a readable audio or video file ({reason})") from exc
    samples = np.asarray(audio, dtype=np.float32)
    if n_channels == 1:
        samples = samples[:, :1]  # AudioLoader duplicates mono into two channels
    if len(samples) == 0:
        raise SourceError(f"{path}: contains no audio samples")
    return DecodedAudio(samples=np.ascontiguousarray(samples), sample_rate_hz=int(rate))
