"""Incremental log-mel frames, exactly as musicnn was trained on them.

Essentia's ``TensorflowInputMusiCNN`` on 512-sample frames with a 256-sample hop at
16 kHz reproduces musicnn's librosa preprocessing when frames are centred on the
hop grid (``startFromZero=False``), i.e. the first frame is centred on sample 0.
We reproduce that framing on a stream by starting with 256 zeros, and carry the
unfinished tail over, so any chunking yields the same frames.

Speed: calling ``TensorflowInputMusiCNN`` once per frame costs more in Python call
overhead than in arithmetic (62.5 calls per second of audio). So we take its exact
pipeline from essentia's own algorithms once — the unnormalised Hann window
(``Windowing``) and the 257x96 slaney/unit_tri mel matrix (``MelBands``, probed with unit
spectra) — and apply it to all new frames of a block in one vectorised step: power
spectrum, matrix product, ``log10(10000 x + 1)``. Tests hold it to essentia's output
(max difference ~1e-6).
"""

from __future__ import annotations

import functools

import numpy as np

from streamchill.analyzer.essentia_lib import essentia_standard

FRAME_SIZE = 512
HOP_SIZE = 256
N_MELS = 96
FRAMES_PER_S = 16_000 / HOP_SIZE
"""62.5 mel frames per second of 16 kHz audio."""
PATCH_FRAMES = 187
"""Frames in one musicnn patch (~2.99 s)."""


class MelFrameStream:
    """Feed 16 kHz mono samples, get new log-mel frames [n, 96] as they complete."""

    def __init__(self) -> None:
        # A frame centred on sample 0 needs 256 samples of history: start with zeros.
        self._pending = np.zeros(FRAME_SIZE // 2, dtype=np.float32)
        self.samples_in = 0
        self._emitted = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append samples; return every frame whose 512 samples are now complete."""
        self.samples_in += len(samples)
        self._pending = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        return self._drain(final=False)

    def frames_after(self, n_samples: int) -> int:
        """Frames emitted in all once ``n_samples`` more samples are pushed."""
        have = len(self._pending) + n_samples
        return self._emitted + (0 if have < FRAME_SIZE else (have - FRAME_SIZE) // HOP_SIZE + 1)

    def flush(self) -> np.ndarray:
        """End of stream: emit the zero-padded tail frames, as essentia's FrameGenerator does."""
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> np.ndarray:
        buf = self._pending
        if final:
            # FrameGenerator(startFromZero=False) emits frames while the frame start
            # (centre - 256) is inside the signal: ceil((n + 256) / 256) frames in all.
            total = -(-(self.samples_in + HOP_SIZE) // HOP_SIZE)
            n_frames = max(0, total - self._emitted)
            buf = np.concatenate([buf, np.zeros(n_frames * HOP_SIZE + FRAME_SIZE, np.float32)])
        else:
            n_frames = 0 if len(buf) < FRAME_SIZE else (len(buf) - FRAME_SIZE) // HOP_SIZE + 1
        if n_frames == 0:
            return np.zeros((0, N_MELS), dtype=np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(buf, FRAME_SIZE)[::HOP_SIZE][:n_frames]
        out = log_mel(windows)
        self._pending = buf[:0] if final else buf[n_frames * HOP_SIZE :]
        self._emitted += n_frames
        return out


def _one_blas_thread() -> None:
    """Keep BLAS (OpenBLAS under numpy) to one thread in this process.

    The mel product ``[n, 257] @ [257, 96]`` crosses OpenBLAS's threading threshold at a few
    dozen frames (a 1 s block, a backlog slice in the daemon, any batch block). Its worker
    threads then spin-wait on the other cores: on the 2-core benchmark machine a 62-frame
    product cost ~1.8 ms of CPU instead of ~0.1 ms, which made 1 s blocks twice as costly
    as 0.1 s blocks. Analysis is one stream per thread by design (LiteRT runs one thread
    too), so the process gets one BLAS thread; it is set once, when the front end loads.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


@functools.cache
def _front_end() -> tuple[np.ndarray, np.ndarray]:
    """(window [512], mel matrix [257, 96]) of essentia's TensorflowInputMusiCNN."""
    _one_blas_thread()
    es = essentia_standard()
    window = es.Windowing(type="hann", normalized=False, zeroPhase=False)(
        np.ones(FRAME_SIZE, dtype=np.float32)
    )
    bands = es.MelBands(
        inputSize=FRAME_SIZE // 2 + 1,
        numberBands=N_MELS,
        sampleRate=16_000,
        highFrequencyBound=8_000,
        warpingFormula="slaneyMel",
        weighting="linear",
        normalize="unit_tri",
        type="power",
    )
    basis = np.eye(FRAME_SIZE // 2 + 1, dtype=np.float32)
    matrix = np.stack([bands(row) for row in basis]).astype(np.float32)
    return np.asarray(window, dtype=np.float32), matrix


def log_mel(frames: np.ndarray) -> np.ndarray:
    """[n, 512] audio frames -> [n, 96] musicnn log-mel frames (float32)."""
    window, matrix = _front_end()
    spec = np.fft.rfft(frames * window, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return np.log10(10_000.0 * (power @ matrix) + 1.0).astype(np.float32)


def mel_frames(samples_16k: np.ndarray) -> np.ndarray:
    """Batch helper: all log-mel frames of a 16 kHz mono signal (stream + flush)."""
    stream = MelFrameStream()
    return np.concatenate([stream.push(samples_16k), stream.flush()])


def patches(frames: np.ndarray, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Cut [n, 96] frames into full [k, 187, 96] patches every ``hop_frames`` frames."""
    if len(frames) < PATCH_FRAMES:
        return np.zeros((0, PATCH_FRAMES, N_MELS), dtype=np.float32)
    starts = range(0, len(frames) - PATCH_FRAMES + 1, hop_frames)
    return np.stack([frames[s : s + PATCH_FRAMES] for s in starts]).astype(np.float32)
