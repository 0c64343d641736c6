"""Write media files in the test run with PyAV's encoders (nothing shipped, nothing downloaded).

The format matrix of ``tests/test_decode_formats.py`` and the inputs of the CLI tests are made
here from the shipped examples, so every container and codec is exercised on real audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHUNK_FRAMES = 4096
"""Samples handed to the encoder per call; PyAV re-cuts them to the codec's frame size."""


@dataclass(frozen=True)
class Format:
    """One row of the matrix: a file suffix, its container, its audio codec and sample format."""

    suffix: str
    container: str
    codec: str
    rate_hz: int | None = None
    """Encode at this rate (Opus only takes 48 kHz); None keeps the source's."""
    video: str | None = None
    """A video codec: the file gets a small picture track besides the sound, like a film."""
    options: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        kind = f"{self.codec}+{self.video}" if self.video else self.codec
        return f"{self.suffix.lstrip('.')}-{kind}"


def write_media(path: Path, samples: np.ndarray, rate_hz: int, fmt: Format) -> Path:
    """Encode float32 ``samples`` [frames, channels] at ``rate_hz`` into ``path`` as ``fmt``."""
    import av

    layout = {1: "mono", 2: "stereo"}[samples.shape[1]]
    out_rate = fmt.rate_hz or rate_hz
    with av.open(str(path), mode="w", format=fmt.container) as out:
        audio = out.add_stream(fmt.codec, rate=out_rate)
        audio.layout = layout
        audio.codec_context.options = dict(fmt.options)
        video = _add_video(out, fmt.video) if fmt.video else None
        convert = av.AudioResampler(format=audio.format.name, layout=layout, rate=out_rate)
        planar = np.ascontiguousarray(samples.T, dtype=np.float32)
        next_picture_s = 0.0
        for start in range(0, planar.shape[1], CHUNK_FRAMES):
            frame = av.AudioFrame.from_ndarray(
                planar[:, start : start + CHUNK_FRAMES], format="fltp", layout=layout
            )
            frame.sample_rate = rate_hz
            frame.pts = start
            for converted in convert.resample(frame):
                out.mux(audio.encode(converted))
            while video is not None and next_picture_s <= start / rate_hz:
                out.mux(video.encode(_picture(next_picture_s)))
                next_picture_s += 1 / PICTURES_PER_S
        for converted in convert.resample(None):
            out.mux(audio.encode(converted))
        out.mux(audio.encode(None))
        if video is not None:
            out.mux(video.encode(None))
    return path


PICTURES_PER_S = 2


def _add_video(out: Any, codec: str) -> Any:
    stream = out.add_stream(codec, rate=PICTURES_PER_S)  # pts count pictures
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    return stream


def _picture(at_s: float) -> Any:
    import av

    frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.pts = round(at_s * PICTURES_PER_S)
    return frame


# Every format the decoder promises (issue 18): PCM at every common width in WAV and AIFF, the
# lossless and lossy codecs in their usual containers, and soundtracks of three film containers.
MATRIX = [
    Format(".wav", "wav", "pcm_u8"),
    Format(".wav", "wav", "pcm_s16le"),
    Format(".wav", "wav", "pcm_s24le"),
    Format(".wav", "wav", "pcm_s32le"),
    Format(".wav", "wav", "pcm_f32le"),
    Format(".aiff", "aiff", "pcm_s16be"),
    Format(".aiff", "aiff", "pcm_s24be"),
    Format(".flac", "flac", "flac"),
    Format(".m4a", "ipod", "alac"),
    Format(".m4a", "ipod", "aac"),
    Format(".mp3", "mp3", "libmp3lame"),
    Format(".ogg", "ogg", "vorbis", options=(("strict", "experimental"),)),
    Format(".opus", "ogg", "libopus", rate_hz=48_000),
    Format(".webm", "webm", "libopus", rate_hz=48_000),
    Format(".mka", "matroska", "libopus", rate_hz=48_000),
    Format(".mp4", "mp4", "aac", video="mpeg4"),
    Format(".mkv", "matroska", "libopus", rate_hz=48_000, video="mpeg4"),
    Format(".webm", "webm", "libopus", rate_hz=48_000, video="libvpx"),
]
