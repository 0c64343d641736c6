"""Full-integer int8 musicnn, measured side by side with the shipped float16 one (build-only).

Three steps, because the runtime's log-mel front end lives in the runtime venv and the
converter needs TensorFlow (never a project dependency):

    .venv/bin/python models/tools/quantize_musicnn.py patches      # devset -> data/quant/*.npz
    TF_USE_LEGACY_KERAS=1 ../tfvenv/bin/python models/tools/quantize_musicnn.py convert
    .venv/bin/python models/tools/quantize_musicnn.py compare      # parity and speed

``patches`` cuts log-mel patches (exactly as a live session computes them) from the devset
clips (``data/devset/clips``, built by ``models/devset/build_devset.py``), one calibration
set and one disjoint evaluation set, split by track. ``convert`` rebuilds the MSD graph
(``build_musicnn.build_graph``) and converts it with weights *and* activations in int8 and
float input/output, calibrated on the calibration patches, so XNNPACK can run its QS8
kernels. ``compare`` runs both models on the evaluation patches with the runtime's
interpreter: tag and embedding differences, the shipped heads' clip-level ROC-AUC with each
network (the parity gate: within 0.01), and the CPU time of one patch on one thread.

Measured 2026-12-02 (2 vCPU AMD EPYC, LiteRT 2.3.0, TF 2.21 converter, 400 calibration
patches from a quarter of the devset's tracks): the int8 file is 0.83 MB, but one patch
costs ~166 ms of CPU against ~59 ms for the shipped float16 network on the same loaded
machine (2.8x slower): this LiteRT's XNNPACK does not take the whole quantized graph, and
the rest runs on reference int8 kernels. Rejected for speed before parity was worth
measuring; a distilled student network is the next candidate (issue "Speed").
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
import wave
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
CLIPS = ROOT / "data" / "devset" / "clips"
MANIFEST = MODELS / "devset" / "manifest.csv"
WORK = ROOT / "data" / "quant"
INT8_NAME = "msd_musicnn_int8.tflite"
CALIBRATION_PATCHES = 400


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def cut_patches() -> None:
    """Log-mel patches of every devset clip, split by track into calibration and evaluation."""
    from streamchill.analyzer.mel import mel_frames, patches

    rows = list(csv.DictReader(MANIFEST.open()))
    by_track: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if (CLIPS / row["label"] / f"{row['clip_id']}.wav").exists():
            by_track[row["track_id"]].append(row)
    tracks = sorted(by_track)
    rng = np.random.default_rng(7)
    calibration_tracks = set(rng.choice(tracks, size=len(tracks) // 4, replace=False))
    out: dict[str, list] = {"cal": [], "eval": [], "eval_clip": [], "eval_label": []}
    for track in tracks:
        for row in by_track[track]:
            audio = _read_wav(CLIPS / row["label"] / f"{row['clip_id']}.wav")
            p = patches(mel_frames(audio))
            if track in calibration_tracks:
                out["cal"].extend(p)
            else:
                out["eval"].extend(p)
                out["eval_clip"].extend([row["clip_id"]] * len(p))
                out["eval_label"].extend([row["label"]] * len(p))
    cal = np.array(out["cal"], np.float32)
    cal = cal[rng.permutation(len(cal))[:CALIBRATION_PATCHES]]
    WORK.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        WORK / "patches.npz",
        calibration=cal,
        evaluation=np.array(out["eval"], np.float32),
        clip=np.array(out["eval_clip"]),
        label=np.array(out["eval_label"]),
    )
    print(f"{len(cal)} calibration and {len(out['eval'])} evaluation patches in {WORK}")


def convert() -> None:
    """Full-integer int8 conversion (float I/O), calibrated on the calibration patches."""
    import tensorflow as tf

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build_musicnn import build_graph

    cal = np.load(WORK / "patches.npz")["calibration"]
    sess, x, tags, emb = build_graph()

    def representative():  # type: ignore[no-untyped-def]
        for patch in cal:
            yield [patch[None]]

    conv = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [x], [tags, emb])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.float32
    conv.inference_output_type = tf.float32
    blob = conv.convert()
    (WORK / INT8_NAME).write_bytes(blob)
    print(f"wrote {WORK / INT8_NAME} ({len(blob) / 1e6:.2f} MB)")


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC-AUC by ranks (ties averaged): no scikit-learn needed in the runtime venv."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def compare() -> None:
    """Parity (tags, embeddings, heads' clip AUC) and one-patch CPU time, both networks."""
    from streamchill.analyzer.model import MusicnnTagger
    from streamchill.analyzer.models_bundle import ModelBundle

    data = np.load(WORK / "patches.npz")
    patches, clips, labels = data["evaluation"], data["clip"], data["label"]
    networks = {
        "f16 (shipped)": MusicnnTagger.load(MODELS / "msd_musicnn.tflite", num_threads=1),
        "int8": MusicnnTagger.load(WORK / INT8_NAME, num_threads=1),
    }
    report: dict[str, dict[str, float]] = {}
    outputs = {}
    for name, tagger in networks.items():
        bundle = ModelBundle.load(tagger=tagger)
        tags, emb = _predict_all(tagger, patches)
        outputs[name] = (tags, emb)
        # The calm judgement reads MTT tags too, which only the student gives.
        _, _, mtt = bundle.student.predict(patches)
        calm = bundle.calm.patch_logits(tags, emb, mtt_tags=mtt)
        speech = bundle.speech.patch_logits(tags, emb)
        clip_ids = np.unique(clips)
        clip_label = {c: labels[clips == c][0] for c in clip_ids}
        mean_calm = np.array([calm[clips == c].mean() for c in clip_ids])
        mean_speech = np.array([speech[clips == c].mean() for c in clip_ids])
        mood = np.array([clip_label[c] in ("calm", "aggressive") for c in clip_ids])
        is_calm = np.array([clip_label[c] == "calm" for c in clip_ids])
        is_talk = np.array([clip_label[c].startswith("speech") for c in clip_ids])
        times = []
        one = patches[:1]
        for r in range(60):
            t0 = time.process_time()
            tagger.predict(one)
            if r >= 10:
                times.append((time.process_time() - t0) * 1e3)
        report[name] = {
            "calm_auc": _auc(mean_calm[mood], is_calm[mood]),
            "speech_auc": _auc(mean_speech, is_talk),
            "patch_cpu_ms_median": statistics.median(times),
        }
    (t16, e16), (t8, e8) = outputs["f16 (shipped)"], outputs["int8"]
    report["int8"]["max_tag_diff"] = float(np.abs(t8 - t16).max())
    report["int8"]["p99_tag_diff"] = float(np.percentile(np.abs(t8 - t16), 99))
    cos = np.sum(e8 * e16, 1) / (np.linalg.norm(e8, axis=1) * np.linalg.norm(e16, axis=1))
    report["int8"]["min_embedding_cosine"] = float(cos.min())
    report["evaluation"] = {"patches": float(len(patches)), "clips": float(len(np.unique(clips)))}
    print(json.dumps(report, indent=1))
    (WORK / "compare.json").write_text(json.dumps(report, indent=1))


def _predict_all(tagger, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    tags, embs = [], []
    for i in range(0, len(patches), 32):
        t, e = tagger.predict(patches[i : i + 32])
        tags.append(t)
        embs.append(e)
    return np.concatenate(tags), np.concatenate(embs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["patches", "convert", "compare"])
    step = parser.parse_args().step
    {"patches": cut_patches, "convert": convert, "compare": compare}[step]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
