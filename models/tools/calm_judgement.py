"""The calm judgement's variants, the choice among them, its calibration and the head file.

One command rebuilds everything (judgement, calibration, ``models/calm_head.json``,
``models/head_report.json`` and the tables of ``models/MODEL_CARD.md``)::

    python models/tools/train_heads.py --version N [--features PATH] [--report-only]

``--features`` points at another per-patch feature cache (same keys as
``data/devset/features.npz``: ``clip_ids``, ``patch_clip``, ``tags`` [P, 50] MSD tag
probabilities, ``emb`` [P, 200]) -- e.g. a student backbone's outputs on the same clips;
``--report-only PATH`` writes the report (calm head included) there without touching the
shipped files. Build-time only, called by ``train_heads.py`` beside it; the protocol (splits,
selection figures) is in ``transfer_eval.py``, the calibration (held-out maps, shipping rule)
in ``calibration.py``. ``ds`` is ``train_heads.Dataset``: clips with their labels, tracks,
source packages and per-patch tags.
"""

from __future__ import annotations

from typing import Any

import calibration
import numpy as np
from transfer_eval import (
    HOLDOUT_SOURCES,
    NEUTRAL_BAND,
    ClipSet,
    Logistic,
    Prior,
    PriorCorrection,
    Variant,
    evaluate_variant,
)


def clip_set(ds: Any, feats_tags: np.ndarray, feats_emb: np.ndarray) -> ClipSet:
    """Calm/aggressive clips of the dataset as a ClipSet (neutral and speech left out)."""
    clips = np.flatnonzero(np.isin(ds.labels, ["calm", "aggressive"]))
    keep = np.isin(ds.patch_clip, clips)
    remap = {int(c): i for i, c in enumerate(clips)}
    return ClipSet(
        clip_ids=[ds.clip_ids[c] for c in clips],
        y=(ds.labels[clips] == "calm").astype(float),
        sources=ds.packages[clips],
        tracks=ds.tracks[clips],
        patch_clip=np.array([remap[int(c)] for c in ds.patch_clip[keep]], dtype=np.int64),
        tags=feats_tags[keep].astype(np.float64),
        emb=feats_emb[keep].astype(np.float64),
    )


VARIANTS: list[Variant] = [
    Prior(),
    Logistic(
        "v3-recipe",
        "embedding+tags",
        0.1,
        weighted=False,
        description="shipped v3 recipe: logistic on 200-d embedding + 50 tags, C=0.1, unweighted",
    ),
    Logistic(
        "emb+tags-weighted-C0.01",
        "embedding+tags",
        0.01,
        weighted=True,
        description="embedding + tags, C=0.01, source x class weights",
    ),
    Logistic(
        "tags-weighted-C0.01",
        "tags",
        0.01,
        weighted=True,
        description="50 tags only, C=0.01, source x class weights",
    ),
    Logistic(
        "tags-weighted-C0.001",
        "tags",
        0.001,
        weighted=True,
        description="50 tags only, C=0.001, source x class weights",
    ),
    PriorCorrection(
        "prior+corr-l2=0.1-b1",
        l2=0.1,
        bound=1.0,
        description="prior + tanh-bounded (1 logit) tag correction, L2 0.1, weighted",
    ),
    PriorCorrection(
        "prior+corr-l2=0.01-b1",
        l2=0.01,
        bound=1.0,
        description="prior + tanh-bounded (1 logit) tag correction, L2 0.01, weighted",
    ),
    PriorCorrection(
        "prior+corr-l2=0.01-b2",
        l2=0.01,
        bound=2.0,
        description="prior + tanh-bounded (2 logits) tag correction, L2 0.01, weighted",
    ),
    PriorCorrection(
        "prior+corr-l2=0.001-b2",
        l2=0.001,
        bound=2.0,
        description="prior + tanh-bounded (2 logits) tag correction, L2 0.001, weighted",
    ),
    PriorCorrection(
        "prior+within-corr-l2=0.01-b2",
        l2=0.01,
        bound=2.0,
        source_offsets=True,
        description=(
            "prior + bounded (2 logits) tag correction learned within sources only "
            "(a free offset per source during the fit), L2 0.01, weighted"
        ),
    ),
    PriorCorrection(
        "prior+within-corr-l2=0.003-b3",
        l2=0.003,
        bound=3.0,
        source_offsets=True,
        description=(
            "prior + bounded (3 logits) tag correction learned within sources only, "
            "L2 0.003, weighted"
        ),
    ),
]

SHIPPABLE = (Prior, PriorCorrection)
"""What may ship: the prior, or the prior with a bounded tag correction. The embedding heads
are measured for comparison only: on music from outside every allowed source they transferred
worse than the untrained prior (../shared notes, issue 14), which no devset split can show."""


def beats_prior(rep: dict, prior: dict) -> bool:
    """A trained variant ships only if it beats the prior on both transfer figures."""
    return (
        rep["selection_mean_within_source_auc"] > prior["selection_mean_within_source_auc"]
        and rep["holdout"]["auc"] > prior["holdout"]["auc"]
    )


def calm_judgement(ds: Any, feats: dict[str, np.ndarray], version: str) -> tuple[dict, dict]:
    """Every variant through the transfer protocol; the winner (or the prior), calibrated."""
    cs = clip_set(ds, ds.tags, feats["emb_kept"])
    is_hold = np.isin(cs.sources, HOLDOUT_SOURCES)
    dev, hold = cs.subset(np.flatnonzero(~is_hold)), cs.subset(np.flatnonzero(is_hold))
    print(f"calm: development {len(dev.y)} clips, set aside {len(hold.y)} clips")
    reports = []
    for v in VARIANTS:
        rep = evaluate_variant(v, dev, hold)
        reports.append(rep)
        print(
            f"  {v.name:28s} within-source {rep['selection_mean_within_source_auc']:.3f}"
            f"  LOSO {rep['pooled_leave_one_source_out']['auc']:.3f}"
            f"  set-aside AUC {rep['holdout']['auc']:.3f} acc {rep['holdout']['accuracy']:.3f}",
            flush=True,
        )
    prior_rep = reports[0]
    shippable = {v.name for v in VARIANTS if isinstance(v, SHIPPABLE)}
    eligible = [r for r in reports[1:] if r["variant"] in shippable and beats_prior(r, prior_rep)]
    ranked = sorted(eligible, key=lambda r: -r["selection_mean_within_source_auc"])
    chosen = ranked[0] if ranked else prior_rep
    variant = next(v for v in VARIANTS if v.name == chosen["variant"])
    y_all = np.concatenate([dev.y, hold.y])
    s_all = np.concatenate([dev.sources, hold.sources])
    t_all = np.concatenate([dev.tracks, hold.tracks])
    is_h = np.concatenate([np.zeros(len(dev.y), bool), np.ones(len(hold.y), bool)])

    def candidates(rep: dict) -> tuple[list[dict], dict]:
        z = np.concatenate([rep["_z_lopo"], rep["_z_hold"]])
        cands = calibration.evaluate(z, y_all, s_all, t_all, is_h)
        return cands, calibration.choose(cands)

    cands, cal = candidates(chosen)
    prior_cands, prior_cal = candidates(prior_rep)
    head = head_json(variant, dev, cal, version)
    # Neutral (menu/title) clips: where does the shipped judgement put them?
    neutral = np.flatnonzero(ds.labels == "neutral")
    z_neutral = np.array([head_logit(head, ds.tags[ds.patch_clip == c]) for c in neutral])
    p_neutral = cal["_map"](z_neutral)
    lo, hi = NEUTRAL_BAND
    floor_n = calibration.clips_needed(cal["_p"][is_h])
    patches = chosen["_patches"]
    by_window = calibration.windows(patches, y_all, s_all, is_h, cal["_maps"])
    for r in reports:
        r.pop("_z_hold")
        r.pop("_z_lopo")
        r.pop("_patches")
    report = {
        "holdout_sources": list(HOLDOUT_SOURCES),
        "development_sources": sorted(set(dev.sources.tolist())),
        "variants": reports,
        "shipped": chosen["variant"],
        "why": (
            "beats the prior on mean within-source AUC and on the set-aside sources"
            if ranked
            else "no trained variant beat the fixed prior on both transfer figures"
        ),
        "calibration_rule": calibration.RULE,
        "shipped_calibration": calibration.public(cal),
        "prior_calibration": calibration.public(prior_cal),
        "calibrations_tried": [{"judgement": "shipped", **calibration.public(c)} for c in cands]
        + [{"judgement": "prior", **calibration.public(c)} for c in prior_cands],
        "set_aside_clips_for_ece_0.05": floor_n,
        "shipped_calibration_by_window_patches": by_window,
        "neutral_clips": {
            "clips": len(neutral),
            "band": [lo, hi],
            "mean_p": round(float(p_neutral.mean()), 4) if len(neutral) else None,
            "in_band": (
                round(float(((p_neutral > lo) & (p_neutral < hi)).mean()), 4)
                if len(neutral)
                else None
            ),
        },
        "counts": counts(cs),
    }
    return head, report


def head_json(variant: Variant, dev: ClipSet, cal: dict, version: str) -> dict:
    """The runtime head (``analyzer.heads``, inputs ``msd_prior+tags``) for the variant."""
    n = 50
    coef = np.zeros(n)
    mean, scale, intercept, bound = np.zeros(n), np.ones(n), 0.0, 0.0
    if isinstance(variant, PriorCorrection):
        variant.fit(dev)
        params = variant.last_params
        mean, scale, coef = params["mean"], params["scale"], params["coef"]
        intercept, bound = params["intercept"], params["bound"]
    elif isinstance(variant, Logistic):
        variant.fit(dev)
        mean, scale, coef, intercept = variant.last_params
        return {
            "name": "calm",
            "version": version,
            "inputs": "tags" if variant.inputs == "tags" else "embedding+tags",
            "mean": mean.tolist(),
            "scale": scale.tolist(),
            "coef": coef.tolist(),
            "intercept": intercept,
            "platt_a": cal["map"]["a"],
            "platt_b": cal["map"]["b"],
            "trained_on": f"{variant.name}; calibration fitted on {cal['fit_on']} logits",
        }
    return {
        "name": "calm",
        "version": version,
        "inputs": "msd_prior+tags",
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": coef.tolist(),
        "intercept": intercept,
        "correction_bound": bound,
        "platt_a": cal["map"]["a"],
        "platt_b": cal["map"]["b"],
        "trained_on": (
            f"{variant.name}; correction fitted on the development sources; calibration "
            f"({cal['fit_on']}) on out-of-source logits; set aside: "
            f"{', '.join(HOLDOUT_SOURCES)}"
        ),
    }


def head_logit(head: dict, tags: np.ndarray) -> float:
    """The window logit the runtime head gives (mean of patch logits)."""
    from streamchill.analyzer.heads import LogisticHead

    h = LogisticHead.from_dict(head)
    return float(np.mean(h.patch_logits(tags, np.zeros((len(tags), 200)))))


def counts(cs: ClipSet) -> dict:
    out: dict[str, dict[str, str]] = {}
    for s in sorted(set(cs.sources.tolist())):
        row = {}
        for lab, name in ((1, "calm"), (0, "aggressive")):
            m = (cs.sources == s) & (cs.y == lab)
            row[name] = f"{int(m.sum())} ({len(set(cs.tracks[m].tolist()))})" if m.any() else ""
        row["set"] = "set aside" if s in HOLDOUT_SOURCES else "development"
        out[s] = row
    return out
