"""Per-patch network outputs for the devset's clips, cached by clip id and extended in place.

One helper for every cache the model tools keep (train_heads' ``data/devset/features.npz``,
the student's ``data/student/features-*.npz``): a devset that grew by a few clips costs those
clips, not a rebuild of thousands. A patch's outputs do not depend on the other clips, so an
extended cache gives the figures a rebuild gives; only the clip order differs, and every
reader matches clips by id. Build-time only.
"""

from __future__ import annotations

import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from streamchill.analyzer.mel import mel_frames, patches

DATA = Path(__file__).resolve().parents[2] / "data" / "devset"
INDEX_KEYS = ("clip_ids", "patch_clip")

Predict = Callable[[np.ndarray], Sequence[np.ndarray]]
"""Patches [N, ...] -> one array [N, width] per output, in the order of ``widths``."""


def read_wav_16k(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != 16_000 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz 16-bit WAV")
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        x = raw.reshape(-1, w.getnchannels()).mean(axis=1)
    return (x / 32768.0).astype(np.float32)


def clip_wav(row: dict[str, str]) -> Path:
    return DATA / "clips" / row["label"] / f"{row['clip_id']}.wav"


def clip_patches(row: dict[str, str]) -> np.ndarray:
    """The clip's non-overlapping 3 s mel patches, as the analyzer cuts them."""
    return patches(mel_frames(read_wav_16k(clip_wav(row))))


def extend_feature_cache(
    rows: list[dict[str, str]], cache: Path, predict: Predict, widths: dict[str, int]
) -> dict[str, np.ndarray]:
    """``clip_ids``, ``patch_clip`` and one array per ``widths`` key, for every clip of
    ``rows`` whose WAV exists; clips the cache lacks are judged by ``predict`` and appended.

    Arrays in the cache that ``predict`` does not make (e.g. a student's MTT tags when
    train_heads extends it) are carried over while nothing is added, and refused when a clip
    must be: mixing outputs of two networks in one cache would be silent and wrong. The new
    cache is written beside and moved in, never rewritten in place (other checkouts may link
    to it).
    """
    have: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            have = {k: z[k] for k in z.files}
    extras = sorted(set(have) - set(INDEX_KEYS) - set(widths))
    ids = [str(c) for c in have.get("clip_ids", [])]
    done = set(ids)
    patch_clip = list(have.get("patch_clip", np.zeros(0, np.int64)))
    parts: dict[str, list[np.ndarray]] = {k: [have[k]] if k in have else [] for k in widths}
    new = 0
    for row in rows:
        cid = row["clip_id"]
        if cid in done or not clip_wav(row).exists():
            continue
        p = clip_patches(row)
        if len(p) == 0:
            continue
        if extras:
            raise SystemExit(
                f"{cache} holds {extras} beside {sorted(widths)} and lacks clip {cid}: extend "
                "it with the tool that wrote it (models/tools/student_parity.py --extend-only "
                "for a cache with MTT tags) rather than mixing networks' outputs in one cache"
            )
        for key, out in zip(widths, predict(p), strict=True):
            parts[key].append(out)
        patch_clip += [len(ids)] * len(p)
        ids.append(cid)
        new += 1
        if new % 50 == 0:
            print(f"  {cache.name}: {new} clips added so far", flush=True)
    result = {
        "clip_ids": np.array(ids, dtype=str),
        "patch_clip": np.array(patch_clip, dtype=np.int64),
        **{
            k: np.concatenate(parts[k]) if parts[k] else np.zeros((0, w), np.float32)
            for k, w in widths.items()
        },
        **{k: have[k] for k in extras},
    }
    if new:
        print(f"  {cache.name}: {new} clips added", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **result)
        tmp.replace(cache)
    return result
