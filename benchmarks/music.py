"""The benchmark's input: real music, as a browser tab would send it.

The shipped music examples (``models/examples/calm-*.ogg`` and ``aggressive-*.ogg``, 44.1 kHz
stereo; the speech example is not music) are decoded once and concatenated in turn
(aggressive, calm, aggressive, ...) to any length, then cut into 100 ms blocks: the
extension's frame size at the browser's usual rate and layout.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from machine import ROOT

RATE_HZ = 44_100
CHANNELS = 2
BLOCK_S = 0.1
"""One WebSocket frame of the extension: 100 ms."""
BLOCK_FRAMES = round(RATE_HZ * BLOCK_S)
EXAMPLES = ROOT / "models" / "examples"


@cache
def _clips() -> tuple[np.ndarray, ...]:
    from streamchill.streamer.sources.decode import decode_file

    clips = []
    paths = sorted(EXAMPLES.glob("aggressive-*.ogg")) + sorted(EXAMPLES.glob("calm-*.ogg"))
    for path in paths:
        audio = decode_file(Path(path))
        if audio.sample_rate_hz != RATE_HZ or audio.channels != CHANNELS:
            continue  # the browser's layout only, so every benchmark sees the same input
        clips.append(audio.samples)
    if not clips:
        raise RuntimeError(f"no 44.1 kHz stereo music examples in {EXAMPLES}")
    return tuple(clips)


def music(duration_s: float) -> np.ndarray:
    """``duration_s`` of the examples looped: float32 [frames, 2] at 44.1 kHz."""
    clips = _clips()
    need = round(duration_s * RATE_HZ)
    parts, have, i = [], 0, 0
    while have < need:
        clip = clips[i % len(clips)]
        parts.append(clip[: need - have])
        have += len(parts[-1])
        i += 1
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def blocks(audio: np.ndarray) -> list[np.ndarray]:
    """Consecutive 100 ms blocks (the last one may be shorter)."""
    return [audio[i : i + BLOCK_FRAMES] for i in range(0, len(audio), BLOCK_FRAMES)]


def wire_blocks(audio: np.ndarray) -> list[bytes]:
    """The same blocks as the extension's binary frames: interleaved f32le PCM."""
    return [b.astype("<f4").tobytes() for b in blocks(audio)]
