"""Calm-judgement variants and the validation that measures transfer (build-time only).

Used by ``models/tools/train_heads.py``. Every variant turns a clip's 3 s patches into one
window logit (mean of patch logits, as the runtime does). The protocol:

* ``HOLDOUT_SOURCES`` are whole packages set aside before any fitting: never used to fit a
  head or choose a variant, only to validate the variants once each, then to fit and
  check the calibration of the judgement that ships (``calibration.py``).
* On the other (development) sources, every variant is fitted leave-one-source-out; the
  selection figure is the ROC-AUC *within* each development source that holds both
  classes, averaged over those sources (a source's offset cannot help there). The pooled
  leave-one-source-out AUC is reported, not selected on.
* The fixed tag mapping the judgement is built on (``analyzer.baseline``; since calm-5 the
  mean of the MSD and MTT mappings), untrained, is the bar: a trained variant ships only if
  it beats that prior on the mean within-source AUC *and* on the set-aside sources;
  otherwise the calibrated prior ships.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from streamchill.analyzer.baseline import msd_mtt_prior_logit, mtt_prior_logit, tag_prior_logit
from streamchill.analyzer.config import AnalyzerConfig

HOLDOUT_SOURCES: tuple[str, ...] = (
    "hedgewars-data",  # both classes: map-theme music vs sudden-death music
    "powermanga-data",  # both classes: menu vs in-game music
    "enigma-data",  # calm only: synth/ambient puzzle music (the out-of-domain failure)
    "gunroar-data",  # aggressive only: electronic shoot-'em-up
    "titanion-data",  # aggressive only: electronic shoot-'em-up
    "colobot-common-sounds",  # both classes (synth): building music vs combat music (v7)
)
"""Chosen before any fitting (2026-12-02), from what each package holds, not from scores.
colobot-common-sounds joined for v7 (2026-12-02) when it entered the devset, before any fit or
figure had seen it; the neutral-only sources added with it (warzone2100-music, megaglest-data,
xmoto-data) are never fitted anyway."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error with equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (p >= lo) & (p < hi) if hi < 1 else (p >= lo) & (p <= hi)
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC (ties count half); NaN when only one class is present."""
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


@dataclass
class ClipSet:
    """Calm (1) / aggressive (0) clips with their patches: what every variant sees."""

    clip_ids: list[str]
    y: np.ndarray  # [C] 1 calm, 0 aggressive
    sources: np.ndarray  # [C] package
    tracks: np.ndarray  # [C] track_id
    patch_clip: np.ndarray  # [P] index into clips
    tags: np.ndarray  # [P, 50] MSD tag probabilities
    emb: np.ndarray  # [P, 200]
    mtt: np.ndarray  # [P, 50] MTT tag probabilities (student's, or the MTT tagger's)

    def subset(self, clips: np.ndarray) -> ClipSet:
        keep = np.isin(self.patch_clip, clips)
        remap = {int(c): i for i, c in enumerate(clips)}
        return ClipSet(
            clip_ids=[self.clip_ids[c] for c in clips],
            y=self.y[clips],
            sources=self.sources[clips],
            tracks=self.tracks[clips],
            patch_clip=np.array([remap[int(c)] for c in self.patch_clip[keep]], dtype=np.int64),
            tags=self.tags[keep],
            emb=self.emb[keep],
            mtt=self.mtt[keep],
        )

    def clip_mean(self, patch_values: np.ndarray) -> np.ndarray:
        """Mean of a per-patch value over each clip's patches."""
        sums = np.bincount(self.patch_clip, weights=patch_values, minlength=len(self.y))
        counts = np.bincount(self.patch_clip, minlength=len(self.y))
        return sums / np.maximum(counts, 1)

    def patch_weights(self) -> np.ndarray:
        """Source x class balanced: every (source, class) cell carries the same total weight,
        so no production dominates either class (this is also the cap on a source's share)."""
        cells = [f"{s}|{int(c)}" for s, c in zip(self.sources, self.y, strict=True)]
        n_cells = len(set(cells))
        clip_w = np.array([1.0 / cells.count(c) for c in cells]) * len(self.y) / n_cells
        counts = np.bincount(self.patch_clip, minlength=len(self.y))
        return (
            clip_w[self.patch_clip] / counts[self.patch_clip] * (len(self.patch_clip) / len(self.y))
        )


class Variant:
    """A recipe: ``fit(train)`` returns a function from a ClipSet to per-patch logits."""

    name: str
    description: str

    def fit(self, train: ClipSet) -> Callable[[ClipSet], np.ndarray]:
        raise NotImplementedError


def prior_logit(kind: str, cs: ClipSet) -> np.ndarray:
    """A fixed mapping's per-patch logit: ``msd``, ``mtt`` or ``mean`` (of the two)."""
    if kind == "msd":
        return tag_prior_logit(cs.tags)
    if kind == "mtt":
        return mtt_prior_logit(cs.mtt)
    return msd_mtt_prior_logit(cs.tags, cs.mtt)


def tag_inputs(kind: str, cs: ClipSet) -> np.ndarray:
    """The tags a correction learns on: ``msd`` [P, 50] or ``msd+mtt`` [P, 100]."""
    return cs.tags if kind == "msd" else np.concatenate([cs.tags, cs.mtt], axis=1)


PRIOR_DESCRIPTIONS = {
    "msd": "fixed MSD tag mapping (11 calm-like vs 10 aggressive-like tags), no training",
    "mtt": "fixed MTT tag mapping (slow, ambient, quiet, soft, new age vs fast, loud, metal, "
    "rock, techno, drums), no training",
    "mean": "mean of the fixed MSD and MTT mappings' logits, no training",
}


@dataclass
class Prior(Variant):
    """A fixed mapping, untrained: logit of calm tag mass over aggressive tag mass."""

    kind: str = "msd"  # "msd" | "mtt" | "mean"

    def __post_init__(self) -> None:
        self.name = "prior-msd+mtt" if self.kind == "mean" else f"prior-{self.kind}"
        self.description = PRIOR_DESCRIPTIONS[self.kind]

    def fit(self, train: ClipSet) -> Callable[[ClipSet], np.ndarray]:
        return lambda cs: prior_logit(self.kind, cs)


@dataclass
class Logistic(Variant):
    """Logistic regression on standardized inputs (the v3 recipe and its tag-only cousins)."""

    name: str
    inputs: str  # "tags" | "embedding+tags"
    c: float
    weighted: bool
    description: str = ""

    def _x(self, cs: ClipSet) -> np.ndarray:
        return cs.tags if self.inputs == "tags" else np.concatenate([cs.emb, cs.tags], axis=1)

    def fit(self, train: ClipSet) -> Callable[[ClipSet], np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        x = self._x(train).astype(np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        w = train.patch_weights() if self.weighted else None
        m = LogisticRegression(C=self.c, max_iter=3000)
        m.fit((x - mean) / scale, train.y[train.patch_clip], sample_weight=w)
        coef, b = m.coef_[0], float(m.intercept_[0])
        self.last_params = (mean, scale, coef, b)
        return lambda cs: ((self._x(cs) - mean) / scale) @ coef + b


@dataclass
class PriorCorrection(Variant):
    """The prior plus a bounded correction learned on the 50 tags.

    patch logit = prior_logit + bound * tanh((standardized tags . beta + b) / bound),
    fitted by weighted logistic loss with an L2 penalty ``l2`` on beta (strong by default):
    the correction can move a patch by at most ``bound`` logits and stays near 0 unless
    the development sources agree on it. ``prior`` names the fixed mapping (``msd`` or
    ``mean``), ``inputs`` the tags the correction sees (``msd`` or ``msd+mtt``).
    """

    name: str
    l2: float
    bound: float
    weighted: bool = True
    source_offsets: bool = False
    description: str = ""
    prior: str = "msd"
    inputs: str = "msd"

    def fit(self, train: ClipSet) -> Callable[[ClipSet], np.ndarray]:
        groups = None
        if self.source_offsets:
            names = sorted(set(train.sources.tolist()))
            groups = np.array([names.index(s) for s in train.sources])[train.patch_clip]
        params = fit_correction(
            tag_inputs(self.inputs, train),
            prior_logit(self.prior, train),
            train.y[train.patch_clip].astype(np.float64),
            train.patch_weights() if self.weighted else np.ones(len(train.patch_clip)),
            l2=self.l2,
            bound=self.bound,
            groups=groups,
        )
        self.last_params = params
        return lambda cs: (
            prior_logit(self.prior, cs) + correction(params, tag_inputs(self.inputs, cs))
        )


def fit_correction(
    tags: np.ndarray,
    prior: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    l2: float,
    bound: float,
    groups: np.ndarray | None = None,
) -> dict:
    """Weighted, L2-penalised logistic fit of a tanh-bounded correction on top of ``prior``.

    With ``groups`` (one source index per patch), every source gets its own free offset
    during the fit (dropped afterwards): a source's overall level is absorbed there, so the
    correction can learn only from differences *within* a source (a one-class source
    teaches it nothing about that source's production).
    """
    from scipy.optimize import minimize

    mean, scale = tags.mean(axis=0), tags.std(axis=0) + 1e-6
    x = (tags - mean) / scale
    w = w / w.sum()
    n_feat = x.shape[1]
    n_groups = 0 if groups is None else int(groups.max()) + 1

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, b = theta[:n_feat], theta[n_feat]
        t = np.tanh((x @ beta + b) / bound)
        z = prior + bound * t
        if groups is not None:
            z = z + theta[n_feat + 1 :][groups]
        p = sigmoid(z)
        nll = -np.sum(w * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        g_out = w * (p - y)
        g_in = g_out * (1 - t**2)  # d nll / d (x.beta + b)
        grad = np.concatenate([x.T @ g_in + 2 * l2 * beta, [g_in.sum()]])
        if groups is not None:
            grad = np.concatenate([grad, np.bincount(groups, weights=g_out, minlength=n_groups)])
        return float(nll + l2 * beta @ beta), grad

    theta0 = np.zeros(n_feat + 1 + n_groups)
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B")
    return {
        "mean": mean,
        "scale": scale,
        "coef": res.x[:n_feat],
        "intercept": float(res.x[n_feat]),
        "bound": bound,
    }


def correction(params: dict, tags: np.ndarray) -> np.ndarray:
    """The bounded correction alone (what ``analyzer.heads`` adds to the prior)."""
    raw = ((tags - params["mean"]) / params["scale"]) @ params["coef"] + params["intercept"]
    b = params["bound"]
    return b * np.tanh(raw / b)


def platt(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Platt scaling (a, b): sigmoid(a z + b) calibrated on (z, y), optionally weighted."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=1e4, max_iter=1000)
    m.fit(z.reshape(-1, 1), y, sample_weight=w)
    return float(m.coef_[0, 0]), float(m.intercept_[0])


def cell_weights(y: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Per-clip weights giving every (source, class) cell the same total (mean weight 1)."""
    cells = [f"{s}|{int(c)}" for s, c in zip(sources, y, strict=True)]
    w = np.array([1.0 / cells.count(c) for c in cells])
    return w * len(w) / w.sum()


def within_source_auc(z: np.ndarray, y: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """ROC-AUC inside each source that holds both classes."""
    out = {}
    for s in sorted(set(sources.tolist())):
        m = sources == s
        if len(set(y[m].tolist())) == 2:
            out[s] = auc(z[m], y[m])
    return out


def per_source(z: np.ndarray, p: np.ndarray, y: np.ndarray, sources: np.ndarray) -> dict:
    out = {}
    for s in sorted(set(sources.tolist())):
        m = sources == s
        out[s] = {
            "calm_clips": int((y[m] == 1).sum()),
            "aggressive_clips": int((y[m] == 0).sum()),
            "accuracy": round(float(((p[m] >= 0.5) == (y[m] == 1)).mean()), 3),
            "within_auc": None if len(set(y[m].tolist())) < 2 else round(auc(z[m], y[m]), 3),
        }
    return out


NEUTRAL_BAND: tuple[float, float] = (
    AnalyzerConfig().aggressive_enter,
    AnalyzerConfig().calm_enter,
)
"""The state machine's neutral band (calm probability strictly between the two)."""


def summary(z: np.ndarray, p: np.ndarray, y: np.ndarray) -> dict:
    """AUC, accuracy at 0.5, ECE, the confidently wrong share (calm < 0.1 for calm music,
    > 0.9 for aggressive), the share in the neutral band, and where the misjudged land."""
    confident_wrong = ((y == 1) & (p < 0.1)) | ((y == 0) & (p > 0.9))
    lo, hi = NEUTRAL_BAND
    in_band = (p > lo) & (p < hi)
    wrong = (p >= 0.5) != (y == 1)
    return {
        "clips": len(y),
        "auc": round(auc(z, y), 4),
        "accuracy": round(float(1 - wrong.mean()), 4),
        "ece": round(ece(p, y), 4),
        "confidently_wrong": round(float(confident_wrong.mean()), 4),
        "in_neutral_band": round(float(in_band.mean()), 4),
        "misjudged_in_neutral_band": (
            round(float(in_band[wrong].mean()), 4) if wrong.any() else None
        ),
    }


def evaluate_variant(variant: Variant, dev: ClipSet, hold: ClipSet) -> dict:
    """Leave-one-source-out on dev (selection figures), then fit on all dev, score hold."""
    lopo = np.zeros(len(dev.y))
    patches_lopo: list[np.ndarray] = [np.zeros(0)] * len(dev.y)
    for s in sorted(set(dev.sources.tolist())):
        te = np.flatnonzero(dev.sources == s)
        tr = np.flatnonzero(dev.sources != s)
        train = dev.subset(tr)
        predict = variant.fit(train)
        test = dev.subset(te)
        pz = predict(test)
        lopo[te] = test.clip_mean(pz)
        for i, c in enumerate(te):
            patches_lopo[c] = pz[test.patch_clip == i]
    within = within_source_auc(lopo, dev.y, dev.sources)
    a, b = platt(lopo, dev.y)
    p_lopo = sigmoid(a * lopo + b)
    predict = variant.fit(dev)
    pz_hold = predict(hold)
    z_hold = hold.clip_mean(pz_hold)
    p_hold_devcal = sigmoid(a * z_hold + b)
    within_hold = within_source_auc(z_hold, hold.y, hold.sources)
    return {
        "variant": variant.name,
        "description": variant.description,
        "selection_mean_within_source_auc": round(float(np.mean(list(within.values()))), 4),
        "within_source_auc": {k: round(v, 4) for k, v in within.items()},
        "pooled_leave_one_source_out": summary(lopo, p_lopo, dev.y),
        "holdout": summary(z_hold, p_hold_devcal, hold.y),
        "holdout_within_source_auc": {k: round(v, 4) for k, v in within_hold.items()},
        "holdout_per_source": per_source(z_hold, p_hold_devcal, hold.y, hold.sources),
        "_z_hold": z_hold,
        "_z_lopo": lopo,
        "_patches": patches_lopo + [pz_hold[hold.patch_clip == i] for i in range(len(hold.y))],
    }
