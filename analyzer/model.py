"""The backbones on LiteRT: 3 s log-mel patches in, tags and a 200-d embedding out.

Two networks: the musicnn *teacher* (50 MSD tags and the embedding), converted from the
pretrained MSD_musicnn weights by ``models/tools/build_musicnn.py``, and the distilled
*student* (the same plus MagnaTagATune's 50 tags, ~0.25 ms instead of ~50 ms a patch), built by
``models/tools/distil_student.py``; ``analyzer/cascade.py`` decides which judges a patch
(see ``models/MODEL_CARD.md``). Only ``ai-edge-litert`` is needed
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

STUDENT_VERSION = "student-msd-mtt-f32-1"
"""Names the shipped student file; bump it when that file changes."""
STUDENT_FILE = "student_msd_mtt.tflite"
MTT_TAGS_FILE = "mtt_tags.json"
_STUDENT_TENSORS = (
    "StatefulPartitionedCall_1:0",  # MSD tags [N, 50]
    "StatefulPartitionedCall_1:1",  # MSD embedding [N, 200]
    "StatefulPartitionedCall_1:2",  # MTT tags [N, 50]
)
"""The student's outputs in (MSD tags, embedding, MTT tags) order, told apart when the file
was shipped against the TF model's outputs on the reference patches (``MODEL_CARD.md``)."""
_MUSICNN_BUILD = "models/tools/build_musicnn.py"
_STUDENT_BUILD = "models/tools/distil_student.py"

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


def _load_names(model_file: Path, file_name: str, *, rebuild: str) -> tuple[str, ...]:
    """Tag names stored next to the model file (the shipped list when it is not there)."""
    tags_file = model_file.with_name(file_name)
    if not tags_file.is_file():
        tags_file = _default_path(file_name)
    try:
        names = json.loads(tags_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot read the tag names {tags_file}: {exc}; reinstall streamchill "
            f"or rebuild with {rebuild}"
        ) from exc
    if not (isinstance(names, list) and len(names) == N_TAGS):
        raise ModelLoadError(f"{tags_file} must hold a list of {N_TAGS} tag names")
    return tuple(str(n) for n in names)


def _open_interpreter(path: Path, num_threads: int, *, rebuild: str) -> Any:
    """A new, allocated LiteRT interpreter on ``path``; every failure says what to do."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelLoadError(
            "the LiteRT runtime is not installed; run `pip install ai-edge-litert`"
        ) from exc
    if not path.is_file():
        raise ModelLoadError(
            f"model file {path} does not exist; reinstall streamchill, or rebuild it with "
            f"`python {rebuild}` (see models/MODEL_CARD.md)"
        )
    try:
        with _litert_info_filtered():
            interp = Interpreter(model_path=str(path), num_threads=num_threads)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"model file {path} is corrupt or not a LiteRT model ({exc}); reinstall "
            f"streamchill, or rebuild it with `python {rebuild}`"
        ) from exc
    return interp


class _PatchNetwork:
    """One allocated LiteRT interpreter over [N, 187, 96] log-mel patches, safe to share
    between threads.

    An interpreter holds mutable input/output buffers, so every call runs under a lock;
    sessions in several threads can share one network (one copy of the weights in memory)
    at the price of running their patches one after another.
    """

    def __init__(self, interpreter: Any, outputs: tuple[str, ...], *, path: Path) -> None:
        self._interp = interpreter
        self.path = path
        self._lock = threading.Lock()
        self._input_index: int = interpreter.get_input_details()[0]["index"]
        found = {d["name"]: d for d in interpreter.get_output_details()}
        try:
            self._outputs = tuple(int(found[name]["index"]) for name in outputs)
        except KeyError as exc:
            raise ModelLoadError(
                f"{path} is not the {type(self).__name__} network: outputs are "
                f"{sorted(found)}, expected {list(outputs)}"
            ) from exc
        shape = tuple(interpreter.get_input_details()[0]["shape"])
        if shape[1:] != (PATCH_FRAMES, N_MELS):
            raise ModelLoadError(
                f"{path} takes input {shape}, expected [N, {PATCH_FRAMES}, {N_MELS}]"
            )
        self._batch = int(shape[0])

    def _run(self, patches: np.ndarray, widths: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """Every output for a batch, float32 copies owned by the caller ([N, width] each)."""
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (PATCH_FRAMES, N_MELS):
            raise ValueError(
                f"patches must have shape [N, {PATCH_FRAMES}, {N_MELS}] (frames x mel bands), "
                f"got {list(x.shape)}"
            )
        n = x.shape[0]
        if n == 0:
            return tuple(np.zeros((0, w), np.float32) for w in widths)
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
            return tuple(
                np.array(self._interp.get_tensor(i), dtype=np.float32) for i in self._outputs
            )


class MusicnnTagger(_PatchNetwork):
    """The musicnn backbone (the *teacher*): 50 MSD tags and a 200-d embedding per patch."""

    def __init__(self, interpreter: Any, tag_names: tuple[str, ...], *, path: Path) -> None:
        """Wrap an allocated interpreter; use :meth:`load` rather than calling this."""
        super().__init__(interpreter, (_TAGS_TENSOR, _EMBEDDING_TENSOR), path=path)
        self.tag_names: tuple[str, ...] = tag_names

    @classmethod
    def load(cls, path: Path | None = None, *, num_threads: int = 1) -> MusicnnTagger:
        """Load the model file (the shipped one by default) into a new interpreter.

        ``num_threads`` defaults to 1: a live stream runs one patch a second, and a single
        thread keeps its cost predictable next to other streams and the rest of the machine.
        """
        path = Path(path) if path is not None else _default_path(MODEL_FILE)
        interp = _open_interpreter(path, num_threads, rebuild=_MUSICNN_BUILD)
        return cls(interp, _load_names(path, TAGS_FILE, rebuild=_MUSICNN_BUILD), path=path)

    def predict(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tag a batch of log-mel patches.

        ``patches`` is [N, 187, 96] (frames x mel bands, essentia ``TensorflowInputMusiCNN``
        output); N may be 0. Returns (tag probabilities [N, 50] in ``tag_names`` order,
        embeddings [N, 200]), both float32 and owned by the caller.
        """
        tags, emb = self._run(patches, (N_TAGS, EMBEDDING_DIM))
        return tags, emb


class StudentTagger(_PatchNetwork):
    """The distilled student: what the MSD musicnn (tags, embedding) and the MagnaTagATune
    musicnn (tags) give, in one pass at ~1/200 of the teacher's cost (``MODEL_CARD.md``)."""

    def __init__(
        self,
        interpreter: Any,
        tag_names: tuple[str, ...],
        mtt_tag_names: tuple[str, ...],
        *,
        path: Path,
    ) -> None:
        """Wrap an allocated interpreter; use :meth:`load` rather than calling this."""
        super().__init__(interpreter, _STUDENT_TENSORS, path=path)
        self.tag_names: tuple[str, ...] = tag_names
        self.mtt_tag_names: tuple[str, ...] = mtt_tag_names

    @classmethod
    def load(cls, path: Path | None = None, *, num_threads: int = 1) -> StudentTagger:
        """Load the student file (the shipped one by default) into a new interpreter."""
        path = Path(path) if path is not None else _default_path(STUDENT_FILE)
        interp = _open_interpreter(path, num_threads, rebuild=_STUDENT_BUILD)
        return cls(
            interp,
            _load_names(path, TAGS_FILE, rebuild=_STUDENT_BUILD),
            _load_names(path, MTT_TAGS_FILE, rebuild=_STUDENT_BUILD),
            path=path,
        )

    def predict(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(MSD tag probabilities [N, 50], MSD embedding [N, 200], MTT tag probabilities
        [N, 50]) for [N, 187, 96] patches, float32 and owned by the caller."""
        msd, emb, mtt = self._run(patches, (N_TAGS, EMBEDDING_DIM, N_TAGS))
        return msd, emb, mtt


_shared: MusicnnTagger | None = None
_shared_student: StudentTagger | None = None
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


def shared_student() -> StudentTagger:
    """The process-wide student on the shipped file, loaded on first use (like the tagger)."""
    global _shared_student
    if _shared_student is None:
        with _shared_lock:
            if _shared_student is None:
                _shared_student = StudentTagger.load()
    return _shared_student
