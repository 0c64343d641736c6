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
held-out sources. The calm head never fitted on neutral or speech clips
(``calm_judgement.py`` leaves them out), so it stays as shipped.

Build-time dependencies only: scikit-learn (the ``train`` extra) and the cached devset
features ``data/devset/features.npz`` (``train_heads.py`` writes them).
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


def fit_speech_head(
    rows: list[dict[str, str]], fold: dict[str, int], held: int, holdout: set[str]
) -> LogisticHead:
    """A speech head fitted without any clip that shares a source with fold ``held``."""
    sys.path.insert(0, str(ROOT / "models" / "tools"))
    from sklearn.model_selection import GroupKFold
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
    with np.load(FEATURES, allow_pickle=False) as z:
        ds = Dataset(keep, {k: z[k] for k in z.files})
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
    mean, scale, coef, b = fit_logistic(ds.x, y, w, SHIPPED_C)
    shipped = shared_models().speech
    return LogisticHead(
        name="speech",
        version=f"{shipped.version}-without-fold{held}",
        inputs="embedding+tags",
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=b,
        platt_a=a,
        platt_b=b0,
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
    """Deal the sources and fit one speech head per fold (~10-30 s of CPU)."""
    with manifest.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if "check=" not in r.get("recipe", "")]
    fold = deal_sources(rows)
    base = shared_models()
    bundles = [
        dataclasses.replace(base, speech=fit_speech_head(rows, fold, held, holdout))
        for held in range(FOLDS)
    ]
    folded = {r["clip_id"]: clip_fold(r, fold) for r in rows if r["label"] in FOLDED_KINDS}
    return Folds(clip_fold=folded, bundles=bundles)
