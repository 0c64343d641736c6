"""Speech heads that never heard the transitions benchmark's neutral and speech pieces.

No source of neutral music, speech or voice-over was set aside before the shipped speech
head was fitted, so that head has heard every such devset clip. The benchmark judges those
pieces with heads fitted in the run instead: the sources of neutral, speech and
speech-over-music clips are dealt to two folds (largest first, each to the fold with fewer
clips so far, so the split is fixed by the manifest); sequence *i* draws those pieces from
fold *i* mod 2 only (clips whose every source is in the fold) and is judged by a speech head
fitted, with the shipped recipe of ``models/tools/train_heads.py`` (logistic regression on
embedding + tags at the shipped C, Platt scaling on out-of-fold clip logits grouped by
track), on the clips that share no source with that fold and none with the calm head's
held-out sources. The student's speech head, which routes patches to musicnn (maybe speech)
and gives the speech logit of the patches the student judges alone, is distilled again per
fold the way ``models/tools/student_cascade.py`` distils the shipped one (a ridge of that
fold's teacher head's patch logit on the student's outputs, same clips), so neither head
has heard the fold's pieces. The calm head never fitted on neutral or speech clips
(``calm_judgement.py`` leaves them out), so it stays as shipped.

Build-time dependencies only: scikit-learn (the ``train`` extra) and the cached devset
features: ``data/devset/features.npz`` (``train_heads.py`` writes them) and the student's,
``data/student/features-student_f32.npz`` (``student_cascade.py`` writes them).
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from machine import ROOT
from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.models_bundle import ModelBundle, shared_models

FOLDS = 2
FOLDED_KINDS = ("neutral", "speech", "speech_over_music")
SHIPPED_C = 0.3
"""The shipped speech head's regularisation (``trained_on`` in models/speech_head.json)."""
PLATT_SPLITS = 5
FEATURES = ROOT / "data" / "devset" / "features.npz"
STUDENT_FEATURES = ROOT / "data" / "student" / "features-student_f32.npz"


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def sources(row: dict[str, str]) -> list[str]:
    """A clip's source packages (a voice-over mix names its voice and its music)."""
    return row["package"].split("+")


def deal_sources(rows: list[dict[str, str]]) -> dict[str, int]:
    """Source -> fold, for the sources of the folded kinds (largest first, to the lighter)."""
    sizes = Counter(s for r in rows if r["label"] in FOLDED_KINDS for s in sources(r))
    load = [0] * FOLDS
    fold: dict[str, int] = {}
    for name, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        f = int(np.argmin(load))
        fold[name] = f
        load[f] += n
    return fold


def clip_fold(row: dict[str, str], fold: dict[str, int]) -> int | None:
    """The fold a clip belongs to, or None when its sources lie in different folds."""
    folds = {fold.get(s) for s in sources(row)}
    return folds.pop() if len(folds) == 1 else None


def fit_speech_heads(
    rows: list[dict[str, str]], fold: dict[str, int], held: int, holdout: set[str]
) -> tuple[LogisticHead, LogisticHead]:
    """The teacher's and the student's speech heads, fitted without any clip that shares a
    source with fold ``held``."""
    sys.path.insert(0, str(ROOT / "models" / "tools"))
    from sklearn.model_selection import GroupKFold
    from student_cascade import aligned_on, fit_ridge
    from train_heads import (
        MUSIC_LABELS,
        SPEECH_LABELS,
        Dataset,
        clip_logits,
        fit_logistic,
        patch_logits,
        platt,
    )

    keep = [
        r
        for r in rows
        if r["label"] in SPEECH_LABELS | MUSIC_LABELS
        and not any(fold.get(s) == held or s in holdout for s in sources(r))
    ]
    teacher = _load(FEATURES)
    ds = Dataset(keep, teacher)
    y_clip = np.isin(ds.labels, list(SPEECH_LABELS)).astype(float)
    y = y_clip[ds.patch_clip]
    w = np.ones(len(y))
    oof = np.zeros(len(ds.clip_ids))
    clips = np.arange(len(ds.clip_ids))
    for tr, te in GroupKFold(n_splits=PLATT_SPLITS).split(clips, y_clip, ds.tracks):
        m = np.isin(ds.patch_clip, tr)
        params = fit_logistic(ds.x[m], y[m], w[m], SHIPPED_C)
        oof[te] = clip_logits(ds, patch_logits(params, ds.x), te)
    a, b0 = platt(oof, y_clip)
    params = fit_logistic(ds.x, y, w, SHIPPED_C)
    student_x = Dataset(keep, aligned_on(_load(STUDENT_FEATURES), teacher)).x
    shipped = shared_models()

    def head(name: str, version: str, fitted: tuple) -> LogisticHead:
        mean, scale, coef, b = fitted
        return LogisticHead(name=name, version=f"{version}-without-fold{held}",
                            inputs="embedding+tags", mean=mean, scale=scale, coef=coef,
                            intercept=b, platt_a=a, platt_b=b0)  # fmt: skip

    return (
        head("speech", shipped.speech.version, params),
        head(
            "speech_student",
            shipped.speech_student.version,
            fit_ridge(student_x, patch_logits(params, ds.x)),
        ),
    )


@dataclasses.dataclass(frozen=True)
class Folds:
    """Which clips each fold may draw, and the models that judge its sequences."""

    clip_fold: dict[str, int | None]
    """clip id -> fold, for the folded kinds."""
    bundles: list[ModelBundle]

    def allows(self, kind: str, clip: str, seed: int) -> bool:
        """May sequence ``seed`` use this clip?"""
        return kind not in FOLDED_KINDS or self.clip_fold.get(clip) == seed % FOLDS

    def bundle(self, seed: int) -> ModelBundle:
        return self.bundles[seed % FOLDS]


def build_folds(manifest: Path, holdout: set[str]) -> Folds:
    """Deal the sources and fit the speech heads of each fold (~10-30 s of CPU)."""
    with manifest.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if "check=" not in r.get("recipe", "")]
    fold = deal_sources(rows)
    base = shared_models()
    bundles = []
    for held in range(FOLDS):
        speech, speech_student = fit_speech_heads(rows, fold, held, holdout)
        bundles.append(dataclasses.replace(base, speech=speech, speech_student=speech_student))
    folded = {r["clip_id"]: clip_fold(r, fold) for r in rows if r["label"] in FOLDED_KINDS}
    return Folds(clip_fold=folded, bundles=bundles)
