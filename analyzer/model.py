"""The musicnn backbone on LiteRT: 3 s log-mel patches in, 50 MSD tags and a 200-d embedding out.

The model file is converted from the pretrained MSD_musicnn weights by
``models/tools/build_musicnn.py`` (see ``models/MODEL_CARD.md``). Only ``ai-edge-litert`` is needed
at run time, and it is imported when a model is loaded, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from streamchill.analyzer.errors import ModelLoadError
from streamchill.analyzer.model_files import model_path

MODEL_VERSION = "msd-musicnn-f16-1"
"""Names the shipped weights and their conversion; bump it when the model file changes."""

MODEL_FILE = "msd_musicnn.tflite"
TAGS_FILE = "msd_tags.json"

PATCH_FRAMES = 187
"""Frames per patch: 3 s at 16 kHz with a hop of 256 samples (musicnn's training input)."""
N_MELS = 96
N_TAGS = 50
EMBEDDING_DIM = 200

_TAGS_TENSOR = "model/Sigmoid"
_EMBEDDING_TENSOR = "model/dense/BiasAdd"


def _default_path(name: str) -> Path:
    return model_path(name)


_LITERT_INFO = re.compile(rb"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.\s*$")
_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _litert_info_filtered() -> Iterator[None]:
    """Drop LiteRT's one "INFO: Created ... XNNPACK delegate" line, keep everything else.

    LiteRT's C++ logger writes it to file descriptor 2 on every interpreter load, and its
    level cannot be set from Python (``TF_CPP_MIN_LOG_LEVEL`` does not reach it). So fd 2
    goes to a temporary file while the interpreter is created; afterwards every other line
    written meanwhile, a real warning or error included, is written back to stderr.

    Callers load models when no other code swaps fd 2 (the daemon loads them at start,
    before it opens any audio device): a library that saved fd 2 inside this window and
    restored it afterwards would leave stderr pointing at the discarded temporary file.
    """
    with _stderr_lock, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line for line in capture.read().splitlines(True) if not _LITERT_INFO.match(line)
            ]
            if kept:
                os.write(2, b"".join(kept))


def _load_tag_names(model_file: Path) -> tuple[str, ...]:
    """Tag names stored next to the model file (the shipped list when it is not there)."""
    tags_file = model_file.with_name(TAGS_FILE)
    if not tags_file.is_file():
        tags_file = _default_path(TAGS_FILE)
    try:
        names = json.loads(tags_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot read the tag names {tags_file}: {exc}; reinstall streamchill "
            "or rebuild with models/tools/build_musicnn.py"
        ) from exc
    if not (isinstance(names, list) and len(names) == N_TAGS):
        raise ModelLoadError(f"{tags_file} must hold a list of {N_TAGS} tag names")
    return tuple(str(n) for n in names)


class MusicnnTagger:
    """One LiteRT interpreter for the musicnn backbone, safe to share between threads.

    An interpreter holds mutable input/output buffers, so every call runs under a lock;
    sessions in several threads can share one tagger (one copy of the weights in memory)
    at the price of running their patches one after another.
    """

    def __init__(self, interpreter: Any, tag_names: tuple[str, ...], *, path: Path) -> None:
        """Wrap an allocated interpreter; use :meth:`load` rather than calling this."""
        self._interp = interpreter
        self.tag_names: tuple[str, ...] = tag_names
        self.path = path
        self._lock = threading.Lock()
        self._input_index: int = interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d for d in interpreter.get_output_details()}
        try:
            self._tags_index: int = outputs[_TAGS_TENSOR]["index"]
            self._emb_index: int = outputs[_EMBEDDING_TENSOR]["index"]
        except KeyError as exc:
            raise ModelLoadError(
                f"{path} is not the musicnn backbone: outputs are {sorted(outputs)}, "
                f"expected {_TAGS_TENSOR!r} and {_EMBEDDING_TENSOR!r}"
            ) from exc
        shape = tuple(interpreter.get_input_details()[0]["shape"])
        if shape[1:] != (PATCH_FRAMES, N_MELS):
            raise ModelLoadError(
                f"{path} takes input {shape}, expected [N, {PATCH_FRAMES}, {N_MELS}]"
            )
        self._batch = int(shape[0])

    @classmethod
    def load(cls, path: Path | None = None, *, num_threads: int = 1) -> MusicnnTagger:
        """Load the model file (the shipped one by default) into a new interpreter.

        ``num_threads`` defaults to 1: a live stream runs one patch a second, and a single
        thread keeps its cost predictable next to other streams and the rest of the machine.
        """
        path = Path(path) if path is not None else _default_path(MODEL_FILE)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelLoadError(
                "the LiteRT runtime is not installed; run `pip install ai-edge-litert`"
            ) from exc
        if not path.is_file():
            raise ModelLoadError(
                f"model file {path} does not exist; reinstall streamchill, or rebuild it with "
                "`python models/tools/build_musicnn.py` (see models/MODEL_CARD.md)"
            )
        try:
            with _litert_info_filtered():
                interp = Interpreter(model_path=str(path), num_threads=num_threads)
                interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(
                f"model file {path} is corrupt or not a LiteRT model ({exc}); reinstall "
                "streamchill, or rebuild it with `python models/tools/build_musicnn.py`"
            ) from exc
        return cls(interp, _load_tag_names(path), path=path)

    def predict(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tag a batch of log-mel patches.

        ``patches`` is [N, 187, 96] (frames x mel bands, essentia ``TensorflowInputMusiCNN``
        output); N may be 0. Returns (tag probabilities [N, 50] in ``tag_names`` order,
        embeddings [N, 200]), both float32 and owned by the caller.
        """
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (PATCH_FRAMES, N_MELS):
            raise ValueError(
                f"patches must have shape [N, {PATCH_FRAMES}, {N_MELS}] (frames x mel bands), "
                f"got {list(x.shape)}"
            )
        n = x.shape[0]
        if n == 0:
            return (
                np.zeros((0, N_TAGS), np.float32),
                np.zeros((0, EMBEDDING_DIM), np.float32),
            )
        x = np.ascontiguousarray(x)
        with self._lock:
            # Re-allocating costs about as much as a patch, so only when the batch size changes.
            if n != self._batch:
                self._interp.resize_tensor_input(self._input_index, [n, PATCH_FRAMES, N_MELS])
                self._interp.allocate_tensors()
                self._batch = n
            self._interp.set_tensor(self._input_index, x)
            self._interp.invoke()
            # Copies: the interpreter reuses its output buffers on the next call.
            tags = np.array(self._interp.get_tensor(self._tags_index), dtype=np.float32)
            emb = np.array(self._interp.get_tensor(self._emb_index), dtype=np.float32)
        return tags, emb


_shared: MusicnnTagger | None = None
_shared_lock = threading.Lock()


def shared_tagger() -> MusicnnTagger:
    """The process-wide tagger on the shipped model, loaded on first use.

    Every session shares it, so the weights sit in memory once and loading (~0.1 s) happens once.
    A failed load is not cached: the next call tries again and raises again.
    """
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = MusicnnTagger.load()
    return _shared
