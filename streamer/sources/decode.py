"""Decode media files to PCM blocks, packet by packet, with PyAV (FFmpeg inside the wheel).

Covers what people have: Opus (ogg, webm, mka), AAC and ALAC (m4a, mp4), MP3, Vorbis, FLAC,
WAV/AIFF at 8-32-bit int and float, and the soundtrack of video containers (mp4, mkv, webm).
No system decoder is needed: PyAV's wheel carries its own FFmpeg with these codecs.

A file is never held whole: :class:`AudioFile` yields float32 blocks at the file's own rate
and channel layout while it reads, so memory does not grow with the file's length. The
analyzer's session does mono and resampling (one audio edge for files, tabs and devices).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np

from streamchill.analyzer.audio import MAX_CHANNELS, MAX_RATE_HZ, MIN_RATE_HZ
from streamchill.streamer.errors import SourceError

MAX_BAD_PACKETS = 50
"""Corrupt packets skipped in a row before the file is declared unreadable.

A damaged stretch of a long recording costs a few packets (tens of ms each); players skip
them and so do we. Fifty in a row (1-2 s of audio) means the stream itself is garbage."""


class PcmSource(Protocol):
    """Anything that hands out float32 PCM blocks ``[frames, channels]`` at a fixed rate."""

    @property
    def sample_rate_hz(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def duration_s(self) -> float | None:
        """Length as the container states it (None when it does not say); for progress only."""

    def blocks(self, block_s: float) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class DecodedAudio:
    """Audio already in memory: float32 samples [frames, channels] at their own rate.

    For short clips (tests, benchmarks that loop an example); files go through :class:`AudioFile`.
    """

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


class AudioFile:
    """The best audio track of a media file, opened for streaming; a context manager.

    Opening checks the file, the container and the track, so most bad inputs fail here with
    a :class:`SourceError` naming the file and the reason; :meth:`blocks` may still raise
    one for damage found further in. Blocks are float32 ``[frames, channels]``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        _check_readable(path)
        import av

        try:
            self._container: Any = av.open(str(path), mode="r")
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            raise SourceError(
                f"{path}: not a readable audio or video file ({_reason(exc)})"
            ) from exc
        try:
            self._stream = self._pick_stream()
            codec = self._stream.codec_context
            rate_hz, channels = int(codec.sample_rate or 0), int(codec.channels or 0)
            if rate_hz <= 0 or channels <= 0:
                raise SourceError(f"{path}: the audio track states no sample rate or channels")
        except BaseException:
            self._container.close()
            raise
        # The session's edge takes 8-192 kHz and 1-8 channels; the rare file outside (a
        # 384 kHz master, a 7.1.4 or 16-track recording) is brought inside here: the rate by
        # FFmpeg, the channels averaged to mono (what the session would do with them anyway).
        self.sample_rate_hz: int = min(max(rate_hz, MIN_RATE_HZ), MAX_RATE_HZ)
        self._source_channels = channels
        self.channels: int = channels if channels <= MAX_CHANNELS else 1
        self._out_layout: Any = None
        self.codec_name: str = codec.name
        self.duration_s: float | None = _duration_s(self._container, self._stream)

    def _pick_stream(self) -> Any:
        if not self._container.streams.audio:
            raise SourceError(f"{self.path}: not a readable audio or video file (no audio track)")
        # FFmpeg's own choice among several tracks: the one a player would play.
        return self._container.streams.best("audio")

    def frames(self) -> Iterator[np.ndarray]:
        """Decoded frames as they come (sizes set by the codec), float32 [frames, channels]."""
        import av

        # A format conversion only (to packed float32, same rate and layout): FFmpeg's
        # swresample does it in C for every sample format (u8, s16, s24/32, float, planar).
        # A stream whose frames change format, layout or rate midway (joined mp3s, a
        # broadcast) gets a new converter to the same output, after the old one is flushed.
        resampler: Any = None
        made_for: tuple[str, str, int] | None = None
        bad = 0
        packets = self._packets()
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            try:
                decoded = packet.decode()
                bad = 0
            except av.FFmpegError as exc:
                bad += 1
                if bad >= MAX_BAD_PACKETS:
                    raise SourceError(
                        f"{self.path}: the audio is damaged beyond repair ({_reason(exc)})"
                    ) from exc
                continue
            for frame in decoded:
                if self._direct(frame):
                    if resampler is not None:  # the stream changed to planar float midway
                        yield from (self._shaped(out) for out in resampler.resample(None))
                        resampler, made_for = None, None
                    yield self._planar(frame)
                    continue
                kind = (frame.format.name, frame.layout.name, frame.sample_rate)
                if kind != made_for:
                    if resampler is not None:
                        yield from (self._shaped(out) for out in resampler.resample(None))
                    resampler, made_for = self._converter(frame), kind
                for out in resampler.resample(frame):
                    yield self._shaped(out)
        if resampler is not None:
            for out in resampler.resample(None):
                yield self._shaped(out)

    def _direct(self, frame: Any) -> bool:
        """Planar float32 at the output rate with every channel kept: no converter needed.

        What Vorbis, Opus, AAC and MP3 decode to. Interleaving it in numpy gives the same
        samples as FFmpeg's converter at a fraction of the per-frame cost (a 20 s Vorbis
        file has ~1,800 frames; the converter and its bookkeeping cost ~40 us each)."""
        return (
            frame.format.name == "fltp"
            and frame.sample_rate == self.sample_rate_hz
            and self._source_channels == self.channels
            and len(frame.layout.channels) == self.channels
        )

    def _planar(self, frame: Any) -> np.ndarray:
        planes: np.ndarray = frame.to_ndarray()  # [channels, samples]
        return np.ascontiguousarray(planes.T)

    def _converter(self, frame: Any) -> Any:
        import av

        if self._out_layout is None:  # the first frame's, kept for the whole file
            self._out_layout = {1: "mono", 2: "stereo"}.get(self._source_channels, frame.layout)
        return av.AudioResampler(format="flt", layout=self._out_layout, rate=self.sample_rate_hz)

    def _shaped(self, frame: Any) -> np.ndarray:
        samples = frame.to_ndarray().reshape(-1, self._source_channels)
        if self._source_channels != self.channels:
            return samples.mean(axis=1, keepdims=True, dtype=np.float32)
        return samples

    def _packets(self) -> Iterator[Any]:
        import av

        demux = self._container.demux(self._stream)
        last: Any = None
        while True:
            try:
                packet = next(demux)
            except (StopIteration, av.EOFError):
                return
            except (av.FFmpegError, OSError) as exc:
                raise SourceError(
                    f"{self.path}: cannot read past {_time_s(last):.1f} s ({_reason(exc)})"
                ) from exc
            if packet.pts is not None:
                last = packet  # its time is worked out only if reading fails after it
            yield packet  # the final, empty packet flushes the decoder

    def blocks(self, block_s: float) -> Iterator[np.ndarray]:
        """Consecutive blocks of ``block_s`` seconds (the last one may be shorter).

        Holds at most one block plus one codec frame (a few thousand samples) at a time."""
        step = max(1, int(block_s * self.sample_rate_hz))
        pending: list[np.ndarray] = []
        have = 0
        for frame in self.frames():
            pending.append(frame)
            have += len(frame)
            if have < step:
                continue
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            cut = have - have % step
            for i in range(0, cut, step):
                yield joined[i : i + step]
            rest = joined[cut:]
            pending, have = ([rest], len(rest)) if len(rest) else ([], 0)
        if have:
            yield np.concatenate(pending)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_audio(path: Path) -> AudioFile:
    """Open ``path`` for streaming; a :class:`SourceError` with a one-line reason if not."""
    return AudioFile(path)


def decode_file(path: Path) -> DecodedAudio:
    """Decode a SHORT file whole (an example clip); long files should use :func:`open_audio`."""
    with open_audio(path) as audio:
        parts = list(audio.frames())
        rate = audio.sample_rate_hz
    if not parts or sum(len(p) for p in parts) == 0:
        raise SourceError(f"{path}: contains no audio samples")
    return DecodedAudio(samples=np.ascontiguousarray(np.concatenate(parts)), sample_rate_hz=rate)


def _check_readable(path: Path) -> None:
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


def _duration_s(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE: microseconds
    return None


def _time_s(packet: Any) -> float:
    """A packet's presentation time in seconds (0 for none)."""
    if packet is None or packet.pts is None or packet.time_base is None:
        return 0.0
    return float(packet.pts * packet.time_base)


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without the file name it repeats (we name the file ourselves)."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).strip() or type(exc).__name__
