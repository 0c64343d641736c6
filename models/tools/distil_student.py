"""Distil a small student network from the musicnn taggers (build-only; not shipped yet).

The student takes the same [187, 96] log-mel patch as musicnn (``analyzer/mel.py``) and
predicts, in one pass, what two teachers say of it: the shipped MSD musicnn (50 tag
probabilities and the 200-d embedding) and the MagnaTagATune musicnn (50 MTT tags, whose fixed
calm mapping transferred best in issue 14). The teachers cost ~50 ms each per patch on one
LiteRT/XNNPACK thread; the student gives both for ~0.2 ms (models/MODEL_CARD.md).

Stages, each run from the repo root; TensorFlow only in the build venv, never at run time:

    TF_USE_LEGACY_KERAS=1 ../tfvenv/bin/python models/tools/distil_student.py mtt-teacher
    .venv/bin/python models/tools/distil_student.py dump --shard 0/2     # and 1/2 alongside
    .venv/bin/python models/tools/distil_student.py dump --shard 0/2 --offsets 47,140 --tag=-x
    ../tfvenv/bin/python models/tools/distil_student.py train              # fit + convert
    .venv/bin/python models/tools/distil_student.py check                  # parity + cost

* ``mtt-teacher`` converts the MTT_musicnn checkpoint of the ``musicnn`` wheel to LiteRT
  (float16 weights, as ``build_musicnn.py`` does for MSD) into ``data/student/``.
* ``dump`` cuts every devset clip (all labels: calm, aggressive, neutral, speech,
  speech_over_music) into patches on the runtime's 3 s grid and, for music clips, that grid
  shifted by ``--offsets`` frames (93 by default; the model card's recipe adds 47 and 140 in
  a second run) and stores them with both teachers' outputs in
  ``data/student/dump-<k><tag>.npz``. The clips of the set-aside sources
  (``transfer_eval.HOLDOUT_SOURCES``) are skipped: they validate the judgement and must stay
  unseen by everything that is fitted, the student included.
* ``train`` fits the student (``student_net.py``), seeded, converts it to LiteRT and writes
  reference outputs of the TF model for ``check``.
* ``check`` holds the LiteRT student to the TF model, times student and teachers side by side
  on the same patches, and reports how closely the student follows the teachers on the
  set-aside clips (which it never saw).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA = ROOT / "data" / "devset"
OUT = ROOT / "data" / "student"
MANIFEST = ROOT / "models" / "devset" / "manifest.csv"
MTT_TEACHER = OUT / "mtt_musicnn_f16.tflite"
OFFSET_FRAMES = 93
"""Each clip gives the runtime's 3 s patch grid; music clips also the same grid shifted by
~1.5 s, a differently-aligned view of the same audio. (A finer hop would give more views, at
~0.1 s of teacher CPU per patch: on a shared 2-core machine the dump is the long stage.)"""
SEED = 15
MUSIC = {"calm", "aggressive", "neutral"}


def clip_sources(row: dict[str, str]) -> set[str]:
    """Every source package a clip draws on (speech_over_music mixes name two, joined by +)."""
    return set(row["package"].split("+"))


def training_rows() -> list[dict[str, str]]:
    """Devset clips the student may learn from: everything but the set-aside sources."""
    from transfer_eval import HOLDOUT_SOURCES  # runtime venv (streamchill) only

    rows = [r for r in csv.DictReader(MANIFEST.open()) if "check=" not in r["recipe"]]
    return [r for r in rows if not clip_sources(r) & set(HOLDOUT_SOURCES)]


def holdout_rows() -> list[dict[str, str]]:
    from transfer_eval import HOLDOUT_SOURCES

    rows = [r for r in csv.DictReader(MANIFEST.open()) if "check=" not in r["recipe"]]
    return [r for r in rows if clip_sources(r) & set(HOLDOUT_SOURCES)]


def mtt_teacher() -> None:
    """Convert the MTT_musicnn checkpoint to a float16-weight LiteRT file (tags, embedding)."""
    import tensorflow as tf
    from musicnn import configuration, models

    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
            y, *_ = models.define_model(x, False, "MTT_musicnn", len(configuration.MTT_LABELS))
            tags = tf.nn.sigmoid(y)
        sess = tf.compat.v1.Session(graph=graph)
        ckpt = Path(models.__file__).parent / "MTT_musicnn"
        tf.compat.v1.train.Saver().restore(sess, f"{ckpt}/")
        emb = graph.get_tensor_by_name("model/dense/BiasAdd:0")
        conv = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [x], [tags, emb])
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
        OUT.mkdir(parents=True, exist_ok=True)
        MTT_TEACHER.write_bytes(conv.convert())
    (OUT / "mtt_tags.txt").write_text("\n".join(configuration.MTT_LABELS) + "\n")
    print(f"wrote {MTT_TEACHER}")


class MttTeacher:
    """The converted MTT tagger on LiteRT (tags only), batch-resizing like MusicnnTagger."""

    def __init__(self, path: Path = MTT_TEACHER) -> None:
        from student_check import LiteRtRunner

        self._rt = LiteRtRunner(path)
        self._tags = next(d["index"] for d in self._rt.outputs if d["shape"][-1] == 50)

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._rt.run(x)
        return self._rt.output(self._tags)


def _cached_msd() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MSD tags and embeddings of the 3 s grid per clip, from train_heads' feature cache.

    ``data/devset/features.npz`` holds exactly what the shipped tagger gives for the same
    patches (``patches(mel_frames(clip))``, hop 187), so the grid-aligned patches reuse it.
    """
    cache = DATA / "features.npz"
    if not cache.exists():
        return {}
    with np.load(cache) as z:
        ids, pc, tags, emb = z["clip_ids"], z["patch_clip"], z["tags"], z["emb"]
    return {str(c): (tags[pc == i], emb[pc == i]) for i, c in enumerate(ids)}


def dump(
    shard: int, shards: int, offsets: tuple[int, ...] = (0, OFFSET_FRAMES), tag: str = ""
) -> None:
    """Two patch grids per clip (3 s grid, and shifted by OFFSET_FRAMES) with both teachers."""
    from feature_cache import clip_wav, read_wav_16k

    from streamchill.analyzer.mel import mel_frames, patches
    from streamchill.analyzer.model import MusicnnTagger

    msd, mtt = MusicnnTagger.load(num_threads=1), MttTeacher()
    cached = _cached_msd()
    rows = training_rows()[shard::shards]
    xs, msd_tags, embs, mtt_tags, clip_idx = [], [], [], [], []
    for i, row in enumerate(rows):
        frames = mel_frames(read_wav_16k(clip_wav(row)))
        # The shifted grid for music only: speech has the fewest downstream uses per CPU second.
        for offset in offsets if row["label"] in MUSIC else [o for o in offsets if o == 0]:
            p = patches(frames[offset:])
            if len(p) == 0:
                continue
            hit = cached.get(row["clip_id"]) if offset == 0 else None
            if hit is not None and len(hit[0]) == len(p):
                msd_tags.append(hit[0])
                embs.append(hit[1])
            else:
                t, e = msd.predict(p)
                msd_tags.append(t)
                embs.append(e)
            mtt_tags.append(mtt.predict(p))
            xs.append(p.astype(np.float16))
            clip_idx += [i] * len(p)
        if (i + 1) % 25 == 0:
            print(f"  shard {shard}: {i + 1}/{len(rows)} clips", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(
        OUT / f"dump-{shard}{tag}.npz",
        x=np.concatenate(xs),
        msd=np.concatenate(msd_tags),
        emb=np.concatenate(embs),
        mtt=np.concatenate(mtt_tags),
        patch_clip=np.array(clip_idx, dtype=np.int64),
        clip_ids=np.array([r["clip_id"] for r in rows], dtype=str),
        labels=np.array([r["label"] for r in rows], dtype=str),
        tracks=np.array([r["track_id"] for r in rows], dtype=str),
    )
    print(f"shard {shard}: {len(clip_idx)} patches from {len(rows)} clips")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    sub.add_parser("mtt-teacher", help="convert the MTT teacher (build venv)")
    d = sub.add_parser("dump", help="teacher targets for the training patches (runtime venv)")
    d.add_argument("--shard", default="0/1", help="k/n: this process does clips k, k+n, ...")
    d.add_argument(
        "--offsets",
        default=f"0,{OFFSET_FRAMES}",
        help="patch grid offsets in frames (non-zero ones for music clips only)",
    )
    d.add_argument("--tag", default="", help="suffix of the dump file (more grids, same clips)")
    sub.add_parser("train", help="fit, convert and write references (build venv)")
    sub.add_parser("check", help="LiteRT numerics, cost and fidelity (runtime venv)")
    args = parser.parse_args()
    if args.stage == "mtt-teacher":
        mtt_teacher()
    elif args.stage == "dump":
        k, n = (int(v) for v in args.shard.split("/"))
        dump(k, n, tuple(int(o) for o in args.offsets.split(",")), args.tag)
    elif args.stage == "train":
        from student_net import train_and_convert

        train_and_convert(OUT, SEED)
    else:
        from student_check import check

        check(OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
