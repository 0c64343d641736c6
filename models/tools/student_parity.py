"""The parity gate of issue 15: judgements rebuilt on the student's outputs vs the teacher's.

Runtime venv plus scikit-learn (``pip install -e '.[train]'``), after ``distil_student.py``:

    .venv/bin/python models/tools/student_parity.py [--model data/student/student_f32.tflite]

For the shipped backbone (``data/devset/features.npz``, train_heads' cache) and for the
student (its features on the same 3 s patches of every devset clip, set-aside sources
included), it runs the existing tools unchanged: ``calm_judgement`` (every variant through the
transfer protocol: within-source AUC, pooled leave-one-source-out, set-aside sources) and
``train_heads.train_head`` for the speech head (grouped CV and leave-one-source-out). It adds
the fixed MagnaTagATune tag mapping of issue 14 on the student's MTT tags vs the real MTT
tagger's. The gate: calm and speech leave-one-source-out ROC-AUC within ``GATE`` of the
teacher's. Writes ``data/student/parity.json``; touches no shipped file.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_heads as th
from calm_judgement import calm_judgement, clip_set
from distil_student import MTT_TEACHER, OUT, MttTeacher
from feature_cache import clip_patches, extend_feature_cache
from student_check import StudentTagger
from transfer_eval import HOLDOUT_SOURCES, Variant, evaluate_variant, tag_prior_logit

from streamchill.analyzer.baseline import MTT_AGGRESSIVE_TAGS, MTT_CALM_TAGS

GATE = 0.01
MTT_CALM, MTT_AGGRESSIVE = MTT_CALM_TAGS, MTT_AGGRESSIVE_TAGS
"""The fixed MTT mapping of issue 14 (``analyzer.baseline``, which the runtime uses)."""


def features(rows: list[dict[str, str]], predict: Any, cache: Path) -> dict[str, np.ndarray]:
    """train_heads' feature layout (clip_ids, patch_clip, tags, emb) plus MTT tags, cached
    by clip id and extended in place (``feature_cache``)."""
    return extend_feature_cache(rows, cache, predict, {"tags": 50, "emb": 200, "mtt": 50})


def teacher_features(rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The shipped backbone's cached features, with the real MTT tagger's tags beside them."""
    msd = th.extract(rows, th.DATA / "features.npz")
    cache = OUT / "teacher-mtt-features.npz"
    if cache.exists():
        mtt = np.load(cache)["mtt"]
    else:
        # Only calm and aggressive clips are judged by the fixed mappings; others stay zero.
        teacher, by_id = MttTeacher(MTT_TEACHER), {r["clip_id"]: r for r in rows}
        mtt = np.zeros((len(msd["patch_clip"]), 50), np.float32)
        for i, c in enumerate(msd["clip_ids"]):
            row = by_id.get(str(c))
            if row is not None and row["label"] in ("calm", "aggressive"):
                mtt[msd["patch_clip"] == i] = teacher.predict(clip_patches(row))
        np.savez(cache, mtt=mtt)
    return {**msd, "mtt": mtt}


class FixedMapping(Variant):
    """An untrained tag mapping on the [MSD 50 | MTT 50] tag columns."""

    def __init__(self, name: str, which: str, mtt_labels: list[str]) -> None:
        self.name, self.description, self.which = name, name, which
        self._ci = [mtt_labels.index(t) for t in MTT_CALM]
        self._ai = [mtt_labels.index(t) for t in MTT_AGGRESSIVE]

    def logit(self, tags: np.ndarray) -> np.ndarray:
        t = tags[:, 50:]
        mtt = np.log(t[:, self._ci].sum(1) + 0.01) - np.log(t[:, self._ai].sum(1) + 0.01)
        msd = tag_prior_logit(tags[:, :50])
        return {"mtt": mtt, "msd": msd, "mean": 0.5 * (mtt + msd)}[self.which]

    def fit(self, train: Any) -> Any:
        return lambda c: self.logit(c.tags)


def judge(name: str, rows: list[dict[str, str]], feats: dict[str, np.ndarray]) -> dict:
    """Rebuild the calm judgement and the speech head on one backbone's features."""
    print(f"== {name}", flush=True)
    ds = th.Dataset(rows, feats)
    feats = dict(feats, emb_kept=ds.x[:, :200])
    _, calm = calm_judgement(ds, feats, f"parity-{name}")
    grid = [0.01, 0.03, 0.1, 0.3, 1.0]
    _, speech = th.train_head(ds, "speech", th.SPEECH_LABELS, th.MUSIC_LABELS, set(), grid)
    keep = np.isin(feats["patch_clip"], [feats["clip_ids"].tolist().index(c) for c in ds.clip_ids])
    both = np.concatenate([ds.tags, feats["mtt"][keep]], axis=1)
    cs = clip_set(ds, both, ds.x[:, :200], ds.mtt)
    hold = np.isin(cs.sources, HOLDOUT_SOURCES)
    dev, ho = cs.subset(np.flatnonzero(~hold)), cs.subset(np.flatnonzero(hold))
    labels = (OUT / "mtt_tags.txt").read_text().split("\n")[:50]
    priors = []
    for which in ("msd", "mtt", "mean"):
        rep = evaluate_variant(FixedMapping(f"prior-{which}", which, labels), dev, ho)
        for key in [k for k in rep if k.startswith("_")]:
            rep.pop(key)  # per-clip arrays for calibration, not for the report
        priors.append(rep)
    return {
        "calm_variants": calm["variants"],
        "calm_shipped": calm["shipped"],
        "speech": {
            "C": speech["C"],
            "grouped_cv_auc": speech["roc_auc_by_clip"],
            "leave_one_source_out_auc": speech["leave_one_source_out"]["roc_auc_by_clip"],
            "leave_one_source_out_accuracy": speech["leave_one_source_out"]["accuracy_by_clip"],
        },
        "fixed_priors": priors,
    }


def summary(rep: dict) -> dict:
    calm = {v["variant"]: v for v in rep["calm_variants"]}
    shipped = calm[rep["calm_shipped"]]
    fixed = {p["variant"]: p for p in rep["fixed_priors"]}
    return {
        "calm_shipped_variant": rep["calm_shipped"],
        "calm_loso_auc": shipped["pooled_leave_one_source_out"]["auc"],
        "calm_within_source_auc": shipped["selection_mean_within_source_auc"],
        "calm_set_aside_auc": shipped["holdout"]["auc"],
        "calm_prior_loso_auc": rep["calm_variants"][0]["pooled_leave_one_source_out"]["auc"],
        "speech_loso_auc": rep["speech"]["leave_one_source_out_auc"],
        "speech_cv_auc": rep["speech"]["grouped_cv_auc"],
        **{
            f"{k}_{f}": (
                v["selection_mean_within_source_auc"]
                if f == "within"
                else v["pooled_leave_one_source_out"]["auc"]
                if f == "loso"
                else v["holdout"]["auc"]
            )
            for k, v in fixed.items()
            for f in ("within", "loso", "set_aside")
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=OUT / "student_f32.tflite")
    parser.add_argument(
        "--only", choices=("teacher", "student"), help="judge one backbone (cached for the other)"
    )
    parser.add_argument(
        "--extend-only",
        action="store_true",
        help="only add the devset clips the shipped student's cache (features-student_f32.npz, "
        "what train_heads reads) lacks, with the shipped student_msd_mtt.tflite, and stop",
    )
    args = parser.parse_args()
    rows = [r for r in csv.DictReader(th.MANIFEST.open()) if "check=" not in r["recipe"]]
    if args.extend_only:
        from streamchill.analyzer.model import StudentTagger as ShippedStudent

        shipped = ShippedStudent.load(num_threads=2)
        features(rows, shipped.predict, OUT / "features-student_f32.npz")
        return 0
    reps = {}
    for name in ("teacher", "student"):
        done = OUT / f"parity-{name}-{args.model.stem if name == 'student' else 'musicnn'}.json"
        if args.only not in (None, name):
            if done.exists():
                reps[name] = json.loads(done.read_text())
            continue
        if name == "teacher":
            feats = teacher_features(rows)
        else:
            student = StudentTagger(args.model, OUT / "student_reference.npz")
            feats = features(rows, student.predict3, OUT / f"features-{args.model.stem}.npz")
        reps[name] = judge(name, rows, feats)
        done.write_text(json.dumps(reps[name], indent=1, default=float))
    if len(reps) < 2:
        return 0
    sums = {k: summary(v) for k, v in reps.items()}
    gate = {
        f"{k}_delta": round(sums["student"][k] - sums["teacher"][k], 4)
        for k in ("calm_loso_auc", "speech_loso_auc")
    }
    # Within 0.01 means no worse by more than 0.01; a student that does better passes.
    gate["passes"] = all(v >= -GATE for v in gate.values())
    result = {"model": args.model.name, "gate": gate, "summary": sums, "detail": reps}
    (OUT / "parity.json").write_text(json.dumps(result, indent=1, default=float))
    print(json.dumps({"gate": gate, "summary": sums}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
