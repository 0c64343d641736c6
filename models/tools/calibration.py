"""Calibration of the calm judgement's window probability, measured where it must hold.

Build-time only (``calm_judgement.py`` calls it). The map turns a window logit (the mean of a
window's patch logits, exactly what ``analyzer.heads.LogisticHead.window_probability`` sees;
a devset clip is 10-30 s, i.e. one 30 s window of 3-10 patches) into the calm probability
that events and verdicts publish.

Every logit here is *out of source*: set-aside sources come from the judgement fitted on all
development sources, development sources from its leave-one-source-out fits. Candidates are
map families (Platt; beta calibration, Kull et al. 2017, of which Platt is the special case
a = c; isotonic) times what they are fitted on (``set-aside``: the set-aside clips only,
unweighted; ``out-of-source``: every out-of-source clip, source x class balanced), and for
Platt also *tempered* maps (``TEMPERS``: the fitted map's a and b both times t < 1, i.e. the
same ranking pulled toward 0.5, so a clip the judgement gets wrong lands nearer the neutral
band than at 0.01). Every figure is *held out*: each clip's probability comes from a map
that never saw the clip's source (set-aside sources: leave one set-aside source out;
development sources under a set-aside fit: the map fitted on all set-aside sources; under an
out-of-source fit: leave one of all 21 sources out). The map that ships is refitted on all of
its data.

The shipping rule is ``RULE`` (``choose`` applies it). The map chosen is what events and
verdicts publish; the state machine reads the *decision map* (``DECISION``, written as the
head's ``decision_a``/``decision_b``), so the published map may be flatter than the scale
the state thresholds were measured on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from transfer_eval import auc, cell_weights, ece, platt, sigmoid, summary

RULE = (
    "only a family the runtime applies (Platt, tempered or not: the state machine reads the "
    "untempered out-of-source Platt map, the head's decision map, so a flatter published map "
    "does not slow it), fitted on the set-aside clips (unweighted) or on all out-of-source "
    "clips (source x class balanced; a set-aside fit so balanced is measured, not eligible); "
    "its held-out "
    "confidently-wrong rate (calm < 0.1 for calm music, > 0.9 for aggressive) at most 2 % on "
    "the set-aside part and on the development part (issue 14's bar holds for any music the "
    "judgement never saw); among those, the lowest held-out ECE on the set-aside sources, then "
    "on all clips; if none holds the bar, the lowest worst-part confidently-wrong rate, then "
    "the same ECE order"
)
FAMILIES = ("platt", "beta", "isotonic")
RUNTIME_FAMILIES = ("platt",)
"""``analyzer.heads`` applies sigmoid(platt_a * z + platt_b); the others are measured to see
whether the map's shape is what limits the calibration."""
FIT_ON = ("set-aside", "set-aside balanced", "out-of-source")
"""``set-aside``: the set-aside clips, unweighted; ``set-aside balanced``: the same clips,
source x class balanced like the out-of-source fit (added for the v7 candidate before its first
run, so that enigma's 19 calm clips do not set the map alone)."""
SHIPPABLE_FIT_ON = ("set-aside", "out-of-source")
"""What the rule may choose from: ``set-aside balanced`` is measured only, so the rule's
choices for v6 (its map and the prior's) stay what they were when it shipped."""
TEMPERS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
"""Platt maps are also measured with a and b times t: less sure, same ranking (t = 1: the fit).
The grid is the one v5 measured; it was not refined after the set-aside figures were seen."""
DECISION = ("platt", "out-of-source", 1.0)
"""(family, fitted on, temper) of the decision map: the calibration the state thresholds,
change deltas and close-call margins of ``AnalyzerConfig`` were measured on (v4, v5)."""
MAX_CONFIDENTLY_WRONG = 0.02
ISOTONIC_CLIP = 0.01
"""Isotonic steps are kept inside [0.01, 0.99]: a step at exactly 0 or 1 would be infinitely
confident on the next source."""


@dataclass(frozen=True)
class CalibrationMap:
    """A fitted map from window logits to calm probabilities."""

    family: str
    params: dict[str, Any]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        p = self.params
        if self.family == "isotonic":
            return np.interp(z, p["x"], p["y"])
        if self.family == "platt":
            return sigmoid(float(p["a"]) * z + float(p["b"]))
        # beta: logit p' = a ln sigmoid(z) - c ln(1 - sigmoid(z)) + b
        return sigmoid(
            float(p["a"]) * -np.logaddexp(0, -z)
            + float(p["c"]) * np.logaddexp(0, z)
            + float(p["b"])
        )


def _features(z: np.ndarray) -> np.ndarray:
    """Beta calibration's inputs: ln sigmoid(z) and -ln(1 - sigmoid(z))."""
    return np.stack([-np.logaddexp(0, -z), np.logaddexp(0, z)], axis=1)


def fit_map(
    family: str, z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
) -> CalibrationMap:
    """Weighted maximum-likelihood fit; beta's slopes are kept >= 0 so the map stays monotone."""
    w = np.ones(len(z)) if w is None else np.asarray(w, dtype=np.float64)
    if family == "platt":  # the fit the shipped head files have always used (scikit-learn)
        a, b = platt(z, y, w)
        return CalibrationMap(family, {"a": a, "b": b})
    w = w / w.sum()
    if family == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(
            out_of_bounds="clip", y_min=ISOTONIC_CLIP, y_max=1 - ISOTONIC_CLIP
        ).fit(z, y, sample_weight=w)
        return CalibrationMap(
            family,
            {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()},
        )
    from scipy.optimize import minimize

    x = _features(z)
    k = x.shape[1]
    ridge = 1e-4  # only keeps a separable fit finite

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = sigmoid(x @ theta[:k] + theta[k])
        nll = -np.sum(w * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        g = w * (p - y)
        grad = np.concatenate([x.T @ g + 2 * ridge * theta[:k], [g.sum()]])
        return float(nll + ridge * theta[:k] @ theta[:k]), grad

    bounds = [(0.0, None)] * k + [(None, None)]
    res = minimize(loss, np.r_[np.ones(k), 0.0], jac=True, method="L-BFGS-B", bounds=bounds)
    t = [float(v) for v in res.x]
    return CalibrationMap(family, {"a": t[0], "c": t[1], "b": t[2]})


def _fit(
    family: str, fit_on: str, z: np.ndarray, y: np.ndarray, s: np.ndarray, temper: float = 1.0
) -> CalibrationMap:
    w = None if fit_on == "set-aside" else cell_weights(y, s)  # "set-aside balanced" too
    m = fit_map(family, z, y, w)
    if temper == 1.0:
        return m
    a, b = float(m.params["a"]) * temper, float(m.params["b"]) * temper
    return CalibrationMap(family, {"a": a, "b": b, "temper": temper})


def held_out(
    family: str,
    fit_on: str,
    z: np.ndarray,
    y: np.ndarray,
    sources: np.ndarray,
    hold: np.ndarray,
    temper: float = 1.0,
) -> tuple[np.ndarray, CalibrationMap, dict[str, CalibrationMap]]:
    """Every clip's probability from a map that never saw its source, the final map, and the
    held-out map used for each source."""
    use = hold if fit_on.startswith("set-aside") else np.ones(len(z), dtype=bool)
    final = _fit(family, fit_on, z[use], y[use], sources[use], temper)
    # Development clips under a set-aside fit: the final map never saw them.
    maps = {str(src): final for src in set(sources.tolist())}
    for src in sorted(set(sources[use].tolist())):
        train = use & (sources != src)
        maps[str(src)] = _fit(family, fit_on, z[train], y[train], sources[train], temper)
    p = np.array([maps[str(src)](np.array([zz]))[0] for zz, src in zip(z, sources, strict=True)])
    return p, final, maps


WINDOW_PATCHES = (1, 3, 5, 10)
"""Window lengths (patches of 3 s) at which the shipped map is checked: a segment's window
grows from 1 patch after a change to 10 (30 s)."""


def windows(
    patches: list[np.ndarray],
    y: np.ndarray,
    sources: np.ndarray,
    hold: np.ndarray,
    maps: dict[str, CalibrationMap],
) -> dict[str, dict]:
    """Held-out figures on every run of n consecutive patches inside each clip (the window the
    state machine sees while a segment grows), through the map that never saw the source.
    Windows of one clip overlap and are not independent: the counts are not sample sizes."""
    out: dict[str, dict] = {}
    for n in WINDOW_PATCHES:
        p, yy, hh = [], [], []
        for logits, label, src, h in zip(patches, y, sources, hold, strict=True):
            if len(logits) < n:
                continue
            runs = np.convolve(logits, np.ones(n) / n, mode="valid")
            p.append(maps[str(src)](runs))
            yy.append(np.full(len(runs), label))
            hh.append(np.full(len(runs), h))
        pa, ya, ha = np.concatenate(p), np.concatenate(yy), np.concatenate(hh)
        parts = {"set_aside": ha, "development": ~ha, "all": np.ones(len(ha), dtype=bool)}
        out[str(n)] = {}
        for k, m in parts.items():
            s = summary(pa[m], pa[m], ya[m])
            s.pop("auc")
            out[str(n)][k] = {"windows": s.pop("clips"), **s}
    return out


def ece_interval(
    p: np.ndarray, y: np.ndarray, tracks: np.ndarray, runs: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """90 % interval of ECE, bootstrapping whole tracks (a track's clips are not independent)."""
    rng = np.random.default_rng(seed)
    ids = sorted(set(tracks.tolist()))
    members = [np.flatnonzero(tracks == t) for t in ids]
    vals = []
    for _ in range(runs):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        vals.append(ece(p[pick], y[pick]))
    lo, hi = np.percentile(vals, [5, 95])
    return round(float(lo), 4), round(float(hi), 4)


def intervals(
    z: np.ndarray, p: np.ndarray, y: np.ndarray, tracks: np.ndarray, runs: int = 1000, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """90 % intervals of AUC, accuracy at 0.5, ECE and the confidently-wrong share,
    bootstrapping whole tracks (resamples holding one class only are skipped for AUC)."""
    rng = np.random.default_rng(seed)
    ids = sorted(set(tracks.tolist()))
    members = [np.flatnonzero(tracks == t) for t in ids]
    vals: dict[str, list[float]] = {"auc": [], "accuracy": [], "ece": [], "confidently_wrong": []}
    for _ in range(runs):
        k = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        a = auc(z[k], y[k])
        if not np.isnan(a):
            vals["auc"].append(a)
        vals["accuracy"].append(float(((p[k] >= 0.5) == (y[k] == 1)).mean()))
        vals["ece"].append(ece(p[k], y[k]))
        wrong = ((y[k] == 1) & (p[k] < 0.1)) | ((y[k] == 0) & (p[k] > 0.9))
        vals["confidently_wrong"].append(float(wrong.mean()))
    out = {}
    for name, v in vals.items():
        lo, hi = np.percentile(v, [5, 95]) if v else (np.nan, np.nan)
        out[name] = (round(float(lo), 4), round(float(hi), 4))
    return out


def noise_floor(p: np.ndarray, runs: int = 1000, seed: int = 0) -> dict[str, float]:
    """ECE of labels drawn from ``p`` itself: what a *perfectly* calibrated map would still
    measure on this many clips (mean and 95th percentile)."""
    rng = np.random.default_rng(seed)
    vals = [ece(p, (rng.random(len(p)) < p).astype(float)) for _ in range(runs)]
    return {"mean": round(float(np.mean(vals)), 4), "p95": round(float(np.percentile(vals, 95)), 4)}


def clips_needed(p: np.ndarray, target: float = 0.05, seed: int = 0) -> int | None:
    """Fewest clips (doubling from 50, drawn like ``p``) at which a perfect map's ECE stays
    under ``target`` 95 % of the time: below that count ECE <= target cannot be verified."""
    rng = np.random.default_rng(seed)
    for n in (50, 100, 200, 400, 800, 1600, 3200):
        q = rng.choice(p, size=n, replace=True)
        if noise_floor(q, runs=300, seed=seed)["p95"] <= target:
            return n
    return None


def per_source(p: np.ndarray, y: np.ndarray, sources: np.ndarray, m: np.ndarray) -> dict:
    out = {}
    for src in sorted(set(sources[m].tolist())):
        k = m & (sources == src)
        wrong = ((y[k] == 1) & (p[k] < 0.1)) | ((y[k] == 0) & (p[k] > 0.9))
        out[src] = {
            "clips": int(k.sum()),
            "auc": None if len(set(y[k].tolist())) < 2 else round(auc(p[k], y[k]), 3),
            "accuracy": round(float(((p[k] >= 0.5) == (y[k] == 1)).mean()), 3),
            "ece": round(ece(p[k], y[k]), 3),
            "confidently_wrong": round(float(wrong.mean()), 3),
            "mean_p": round(float(p[k].mean()), 3),
        }
    return out


def evaluate(
    z: np.ndarray, y: np.ndarray, sources: np.ndarray, tracks: np.ndarray, hold: np.ndarray
) -> list[dict]:
    """Every (family, fit_on) candidate with held-out figures per part and per source."""
    parts = {"set_aside": hold, "development": ~hold, "all": np.ones(len(z), dtype=bool)}
    out = []
    runs = [(f, on, 1.0) for f in FAMILIES for on in FIT_ON]
    runs += [("platt", on, t) for on in FIT_ON for t in TEMPERS if t != 1.0]
    for family, fit_on, temper in runs:
        p, final, maps = held_out(family, fit_on, z, y, sources, hold, temper)
        figures = {k: summary(z[m], p[m], y[m]) for k, m in parts.items()}
        for k, m in parts.items():
            # Pooled over sources whose maps differ, the ranking of the held-out probabilities
            # is what a listener gets (the logit AUC above is the same for every map).
            figures[k]["auc_held_out_p"] = round(auc(p[m], y[m]), 4)
            figures[k]["ece_90"] = ece_interval(p[m], y[m], tracks[m])
            figures[k]["ece_noise_floor"] = noise_floor(p[m])
        out.append(
            {
                "family": family if temper == 1.0 else f"{family} x{temper:g}",
                "fit_on": fit_on,
                "temper": temper,
                "runtime": family in RUNTIME_FAMILIES,
                "map": final.params,
                "held_out": figures,
                "per_source": per_source(p, y, sources, parts["all"]),
                "_p": p,
                "_map": final,
                "_maps": maps,
            }
        )
    return out


def choose(candidates: list[dict]) -> dict:
    """The shipping rule of the module docstring; marks every candidate ``eligible``."""
    for c in candidates:
        h = c["held_out"]
        c["eligible"] = bool(
            c["runtime"]
            and c["fit_on"] in SHIPPABLE_FIT_ON
            and h["set_aside"]["confidently_wrong"] <= MAX_CONFIDENTLY_WRONG
            and h["development"]["confidently_wrong"] <= MAX_CONFIDENTLY_WRONG
        )
    pool = [c for c in candidates if c["eligible"]]
    if not pool:  # none holds the bar: the least confidently wrong of the runtime's maps

        def worst_wrong(c: dict) -> float:
            h = c["held_out"]
            return max(h["set_aside"]["confidently_wrong"], h["development"]["confidently_wrong"])

        runtime = [c for c in candidates if c["runtime"] and c["fit_on"] in SHIPPABLE_FIT_ON]
        least = min(worst_wrong(c) for c in runtime)
        pool = [c for c in runtime if worst_wrong(c) == least]
    return min(pool, key=lambda c: (c["held_out"]["set_aside"]["ece"], c["held_out"]["all"]["ece"]))


def decision_map(candidates: list[dict]) -> dict:
    """The candidate whose final map is the decision map (``DECISION``)."""
    family, fit_on, temper = DECISION
    return next(
        c
        for c in candidates
        if c["family"] == family and c["fit_on"] == fit_on and c["temper"] == temper
    )


def public(c: dict) -> dict:
    """A candidate without its arrays (for the JSON report)."""
    return {k: v for k, v in c.items() if not k.startswith("_")}
