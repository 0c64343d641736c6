"""Which pieces the transitions benchmark scores: the heads' verdict on a fixed patch grid.

A piece counts only if the heads judge it as its label (``transitions.py``: the state is
measured, not the judgement). That verdict must not depend on the session under test: it
used to be taken over the patches the session happened to judge, so a change to the patch
schedule could move a borderline piece in or out of the sample (one more patch judged
inside hw-bath-1 tipped its whole-piece verdict from 0.50 to 0.495, and an aggressive ->
calm change of 13 s left the figures). Here every piece is judged on its own audio, on a
fixed grid: non-overlapping 3 s patches from the piece's start (the first log-mel frame,
centred on the first sample, is skipped, so every patch lies wholly inside the piece), each
judged by the musicnn teacher and the heads exactly as the session's teacher route judges a
patch (``ModelBundle.judge``: the calm head on the teacher's tags and the student's MTT
tags). The backbones' outputs are kept per clip, so a clip drawn by several sequences is
run once, and the heads of each sequence's fold read them; they are kept on disk too
(``data/transitions/``, one file per pair of backbone versions: the heads may change, the
backbones' outputs for the same audio do not), so a second run costs nothing for them
(the first run of 32 sequences spends ~70 s on ~1,000 teacher patches).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import FRAMES_PER_S, PATCH_FRAMES, MelFrameStream, patches
from streamchill.analyzer.model import MODEL_VERSION, STUDENT_VERSION
from streamchill.analyzer.models_bundle import ModelBundle
from transition_pieces import MUSIC, ROOT, Piece

CACHE = ROOT / "data" / "transitions" / f"verdict-grid-{MODEL_VERSION}+{STUDENT_VERSION}.npz"

OPENING_S = 10.0
"""A piece's opening (the patches that begin in its first 10 s) must be judged right too."""
GRID_START_FRAME = 1
"""Frame 0 is centred on the first sample, half of it padding: the grid starts after it."""
BATCH = 16
"""Patches per backbone call."""


@dataclass(frozen=True)
class GridJudgement:
    """The backbones' outputs for one piece's grid patches (model-independent of the heads)."""

    samples: int
    """Length of the piece's audio (a clip cut differently is judged again)."""
    start_s: np.ndarray
    """Start of each patch, seconds from the piece's start."""
    tags: np.ndarray
    embedding: np.ndarray
    mtt_tags: np.ndarray

    FIELDS = ("start_s", "tags", "embedding", "mtt_tags")


def grid_patches(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([k, 187, 96] patches, start seconds) of a 16 kHz piece on the fixed grid."""
    frames = MelFrameStream().push(audio)  # no flush: no padded tail frames
    batch = patches(frames[GRID_START_FRAME:])
    return batch, (GRID_START_FRAME + PATCH_FRAMES * np.arange(len(batch))) / FRAMES_PER_S


class Verdicts:
    """Judges pieces on the fixed grid; one backbone pass per clip for the whole run."""

    def __init__(self, models: ModelBundle, cache_file: Path | None = CACHE) -> None:
        self._models = models
        self._cache_file = cache_file
        self._cache: dict[str, GridJudgement] = {}
        self._new = False
        if cache_file is not None and cache_file.exists():
            with np.load(cache_file, allow_pickle=False) as z:
                for key in z.files:
                    if key.endswith("/samples"):
                        name = key.removesuffix("/samples")
                        fields = {f: z[f"{name}/{f}"] for f in GridJudgement.FIELDS}
                        self._cache[name] = GridJudgement(int(z[key]), **fields)

    def save(self) -> None:
        """Keep the backbones' outputs on disk for the next run (when anything was added)."""
        if self._cache_file is None or not self._new:
            return
        arrays = {}
        for name, g in self._cache.items():
            arrays[f"{name}/samples"] = np.array(g.samples)
            arrays.update({f"{name}/{f}": getattr(g, f) for f in GridJudgement.FIELDS})
        self._cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._cache_file.with_name(f"{self._cache_file.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(self._cache_file)  # atomic: another run may read it meanwhile

    def grid(self, name: str, audio: np.ndarray) -> GridJudgement:
        """The backbones' outputs for the piece ``name`` (its audio is the same every time)."""
        cached = self._cache.get(name)
        if cached is None or cached.samples != len(audio):
            self._new = True
            batch, start_s = grid_patches(audio)
            parts = [self._run(batch[i : i + BATCH]) for i in range(0, len(batch), BATCH)]
            if parts:
                tags, emb, mtt = (np.concatenate(x) for x in zip(*parts, strict=True))
            else:
                tags = emb = mtt = np.zeros((0, 0), np.float32)
            self._cache[name] = GridJudgement(len(audio), start_s, tags, emb, mtt)
        return self._cache[name]

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, _, mtt = self._models.student.predict(batch)
        tags, emb = self._models.tagger.predict(batch)
        return tags, emb, mtt

    def right(self, piece: Piece, audio: np.ndarray, heads: ModelBundle) -> bool:
        """Is the piece judged as its label, over the whole piece and over its opening?

        Calm, aggressive and neutral on the state's own bars (calm probability at or above
        ``calm_enter``, at or below ``aggressive_enter``, or between them); speech kinds at a
        speech probability of 0.5 or more. A calm piece at 0.55 is neutral to the state
        (the neutral band says "not sure"), and so is a neutral piece at 0.55: the verdict
        gives the one answer the state can give to both. The opening must agree too: the
        state is asked to follow a piece within 5 s, on what it has heard by then, so a
        neutral piece that opens calm is not the state's to follow as neutral. (Only the
        opening's calm judgement counts for music: the speech probability of a few patches
        saturates on some ambient music, and the state is built not to believe it.)
        ``heads``: the calm and speech heads of the sequence's fold; the backbones are the
        shipped ones either way.
        """
        if piece.kind in ("silence", "tone"):
            return True
        g = self.grid(piece.name, audio)
        if not len(g.start_s):
            return False
        calm = heads.calm.patch_logits(g.tags, g.embedding, mtt_tags=g.mtt_tags)
        speech = heads.speech.patch_logits(g.tags, g.embedding)
        opening = g.start_s < OPENING_S
        return judged_as(heads, piece.kind, calm, speech) and judged_as(
            heads, piece.kind, calm[opening], speech[opening], mood_only=piece.kind in MUSIC
        )


def judged_as(
    heads: ModelBundle,
    kind: str,
    calm_logits: np.ndarray,
    speech_logits: np.ndarray,
    *,
    mood_only: bool = False,
) -> bool:
    """The heads' verdict over these patches agrees with ``kind`` (``mood_only``: the calm
    judgement alone, for a music piece's opening). The calm judgement on the decision map,
    the scale of the state machine's neutral band (``analyzer/heads.py``)."""
    calm = heads.calm.decision_probability(np.asarray(calm_logits))
    speech = heads.speech.window_probability(np.asarray(speech_logits))
    if kind in ("speech", "speech_over_music"):
        return speech >= 0.5
    if speech >= 0.5 and not mood_only:
        return False
    c = AnalyzerConfig()
    if kind == "calm":
        return calm >= c.calm_enter
    if kind == "aggressive":
        return calm <= c.aggressive_enter
    return c.aggressive_enter < calm < c.calm_enter
