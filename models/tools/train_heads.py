"""Train and calibrate the calm head and the speech head on the development set.

Build-time only (needs scikit-learn: ``pip install -e '.[train]'``), never at run time.

    python models/devset/build_devset.py          # cut the clips from Debian packages
    python models/tools/train_heads.py                  # features -> CV report -> heads

Protocol, so the numbers mean something on music nobody tuned on:
* every clip is cut into non-overlapping 3 s patches, which the shipped LiteRT backbone
  turns into tags [50] and an embedding [200] (cached in data/devset/features.npz);
* validation is 5-fold GroupKFold *by track* (clips of one track never straddle folds);
  hyper-parameters are chosen on those folds, and calibration (Platt, at the window
  level: mean patch logit of a clip, as the runtime does) is fitted on out-of-fold logits;
* the calm head learns calm (1) vs aggressive (0); "neutral" clips enter with both labels
  at half weight, which pulls them towards 0.5 — the honest "not sure" region;
* the speech head learns speech and speech-over-music (1) vs all music (0);
* the fixed tag-ratio mapping (analyzer/baseline.py) is scored on the same folds.
The report (JSON + markdown table) is written to models/head_report.{json,md}; the
model card quotes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from streamchill.analyzer.mel import mel_frames, patches  # noqa: E402
from streamchill.analyzer.model import MusicnnTagger  # noqa: E402
from models.model_card import write_card_tables  # noqa: E402
from models.transfer_eval import (  # noqa: E402
    HOLDOUT_SOURCES,
    ClipSet,
    Logistic,
    Prior,
    PriorCorrection,
    Variant,
    auc,
    calibrate,
    ece,
    evaluate_variant,
    sigmoid,
)

DATA = ROOT / "data" / "devset"
MANIFEST = ROOT / "models" / "devset" / "manifest.csv"
SPEECH_LABELS = {"speech", "speech_over_music"}
MUSIC_LABELS = {"calm", "aggressive", "neutral"}


def read_wav_16k(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != 16_000 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz 16-bit WAV")
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        x = raw.reshape(-1, w.getnchannels()).mean(axis=1)
    return (x / 32768.0).astype(np.float32)


def extract(rows: list[dict[str, str]], cache: Path) -> dict[str, np.ndarray]:
    """Per-patch tags and embeddings for every clip (cached by clip id)."""
    have: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            have = {k: z[k] for k in z.files}
    done = set(have.get("clip_ids", np.array([], dtype=str)).tolist())
    tagger = MusicnnTagger.load(num_threads=2)
    clip_ids = list(have.get("clip_ids", np.array([], dtype=str)))
    patch_clip = list(have.get("patch_clip", np.array([], dtype=np.int64)))
    tags = [have["tags"]] if "tags" in have else []
    emb = [have["emb"]] if "emb" in have else []
    new = 0
    for row in rows:
        cid = row["clip_id"]
        if cid in done:
            continue
        path = DATA / "clips" / row["label"] / f"{cid}.wav"
        if not path.exists():
            continue
        p = patches(mel_frames(read_wav_16k(path)))
        if len(p) == 0:
            continue
        t, e = tagger.predict(p)
        idx = len(clip_ids)
        clip_ids.append(cid)
        patch_clip.extend([idx] * len(p))
        tags.append(t)
        emb.append(e)
        new += 1
        if new % 50 == 0:
            print(f"  features: {new} new clips", flush=True)
    out = {
        "clip_ids": np.array(clip_ids, dtype=str),
        "patch_clip": np.array(patch_clip, dtype=np.int64),
        "tags": np.concatenate(tags) if tags else np.zeros((0, 50), np.float32),
        "emb": np.concatenate(emb) if emb else np.zeros((0, 200), np.float32),
    }
    if new:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **out)
    return out


class Dataset:
    def __init__(self, rows: list[dict[str, str]], feats: dict[str, np.ndarray]) -> None:
        by_id = {r["clip_id"]: r for r in rows}
        # Clips cached earlier but gone from the manifest (relabelled or dropped) are ignored.
        all_ids = feats["clip_ids"].tolist()
        keep = [i for i, c in enumerate(all_ids) if c in by_id]
        remap = {old: new for new, old in enumerate(keep)}
        patch_keep = np.isin(feats["patch_clip"], keep)
        self.clip_ids = [all_ids[i] for i in keep]
        self.rows = [by_id[c] for c in self.clip_ids]
        self.patch_clip = np.array([remap[int(i)] for i in feats["patch_clip"][patch_keep]])
        self.tags = feats["tags"][patch_keep]
        self.x = np.concatenate([feats["emb"][patch_keep], self.tags], axis=1).astype(np.float64)
        self.labels = np.array([r["label"] for r in self.rows])
        self.tracks = np.array([r["track_id"] for r in self.rows])
        self.packages = np.array([r["package"] for r in self.rows])


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit((x - mean) / scale, y, sample_weight=w)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def patch_logits(params: tuple, x: np.ndarray) -> np.ndarray:
    mean, scale, coef, intercept = params
    return ((x - mean) / scale) @ coef + intercept


def clip_logits(ds: Dataset, logits: np.ndarray, clips: np.ndarray) -> np.ndarray:
    return np.array([logits[ds.patch_clip == c].mean() for c in clips])


def platt(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=1e4, max_iter=1000)
    m.fit(z.reshape(-1, 1), y, sample_weight=w)
    return float(m.coef_[0, 0]), float(m.intercept_[0])


def train_head(
    ds: Dataset,
    name: str,
    positive: set[str],
    negative: set[str],
    soft: set[str],
    c_grid: list[float],
) -> tuple[dict, dict]:
    """Grouped CV over C, OOF Platt calibration, final fit on everything."""
    from sklearn.model_selection import GroupKFold

    clip_mask = np.isin(ds.labels, list(positive | negative | soft))
    clips = np.flatnonzero(clip_mask)
    y_clip = np.isin(ds.labels[clips], list(positive)).astype(float)
    soft_clip = np.isin(ds.labels[clips], list(soft))
    groups = ds.tracks[clips]
    folds = list(GroupKFold(n_splits=5).split(clips, y_clip, groups))

    def patch_set(clip_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xs, ys, ws = [], [], []
        for c in clip_idx:
            m = ds.patch_clip == c
            xp = ds.x[m]
            if ds.labels[c] in soft:
                xs += [xp, xp]
                ys += [np.ones(len(xp)), np.zeros(len(xp))]
                ws += [np.full(len(xp), 0.5)] * 2
            else:
                xs.append(xp)
                ys.append(np.full(len(xp), float(ds.labels[c] in positive)))
                ws.append(np.ones(len(xp)))
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)

    best = None
    for c in c_grid:
        oof = np.zeros(len(clips))
        for tr, te in folds:
            params = fit_logistic(*patch_set(clips[tr]), c)
            oof[te] = clip_logits(ds, patch_logits(params, ds.x), clips[te])
        hard = ~soft_clip
        a, b = platt(oof[hard], y_clip[hard])
        p = sigmoid(a * oof + b)
        loss = -np.mean(
            y_clip[hard] * np.log(p[hard] + 1e-9) + (1 - y_clip[hard]) * np.log(1 - p[hard] + 1e-9)
        )
        print(f"  {name}: C={c:g} OOF log-loss {loss:.4f} AUC {auc(p[hard], y_clip[hard]):.4f}")
        if best is None or loss < best[0]:
            best = (loss, c, oof, a, b)
    assert best is not None
    _, c, oof, a, b = best
    params = fit_logistic(*patch_set(clips), c)
    head = {
        "name": name,
        "inputs": "embedding+tags",
        "mean": params[0].tolist(),
        "scale": params[1].tolist(),
        "coef": params[2].tolist(),
        "intercept": params[3],
        "platt_a": a,
        "platt_b": b,
        "trained_on": f"devset: {len(clips)} clips, {len(set(groups))} tracks; C={c:g}",
    }
    p_oof = sigmoid(a * oof + b)
    report = evaluate(ds, name, clips, y_clip, soft_clip, p_oof)
    report["C"] = c
    # The harder question: music from a game the head never saw. Leave one source package
    # out at a time (same C, calibration re-fitted on those out-of-source logits).
    from sklearn.model_selection import LeaveOneGroupOut

    lopo = np.zeros(len(clips))
    for tr, te in LeaveOneGroupOut().split(clips, y_clip, ds.packages[clips]):
        if len(set(y_clip[tr][~soft_clip[tr]].tolist())) < 2:
            continue
        params_lopo = fit_logistic(*patch_set(clips[tr]), c)
        lopo[te] = clip_logits(ds, patch_logits(params_lopo, ds.x), clips[te])
    hard = ~soft_clip
    la, lb = platt(lopo[hard], y_clip[hard])
    report["leave_one_source_out"] = evaluate(
        ds, f"{name} (leave one source out)", clips, y_clip, soft_clip, sigmoid(la * lopo + lb)
    )
    return head, report


def evaluate(
    ds: Dataset, name: str, clips: np.ndarray, y: np.ndarray, soft: np.ndarray, p: np.ndarray
) -> dict:
    hard = ~soft
    tracks = ds.tracks[clips]
    tr_ids = sorted(set(tracks[hard].tolist()))
    tr_p = np.array([p[hard][tracks[hard] == t].mean() for t in tr_ids])
    tr_y = np.array([y[hard][tracks[hard] == t][0] for t in tr_ids])
    per_source = {}
    for pkg in sorted(set(ds.packages[clips].tolist())):
        m = (ds.packages[clips] == pkg) & hard
        if m.any():
            per_source[pkg] = {
                "clips": int(m.sum()),
                "accuracy": float(((p[m] >= 0.5) == (y[m] == 1)).mean()),
            }
    wrong = sorted(
        {
            t
            for t, pp, yy in zip(tracks[hard], p[hard], y[hard], strict=True)
            if (pp >= 0.5) != (yy == 1)
        }
    )
    out = {
        "head": name,
        "misjudged_tracks": wrong,
        "clips": int(hard.sum()),
        "tracks": len(tr_ids),
        "accuracy_by_clip": float(((p[hard] >= 0.5) == (y[hard] == 1)).mean()),
        "accuracy_by_track": float(((tr_p >= 0.5) == (tr_y == 1)).mean()),
        "roc_auc_by_clip": auc(p[hard], y[hard]),
        "ece_by_clip": ece(p[hard], y[hard]),
        "per_source": per_source,
    }
    if soft.any():
        out["soft_clips_mean_p"] = float(p[soft].mean())
        out["soft_clips_in_0.35_0.65"] = float(((p[soft] > 0.35) & (p[soft] < 0.65)).mean())
    return out


def clip_set(ds: Dataset, feats_tags: np.ndarray, feats_emb: np.ndarray) -> ClipSet:
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


SHIPPED_CALIBRATION = "out-of-source"
"""Which Platt fit ships (both are reported): ``set-aside`` fits the 50 set-aside clips only;
``out-of-source`` fits every out-of-source window logit (set-aside sources plus the
development sources' leave-one-source-out logits), source x class balanced. The set-aside
sources hold no orchestral battle music, and a calibration fitted on them alone moved the
development sources' battle music to confident "calm" (see the model card)."""


def beats_prior(rep: dict, prior: dict) -> bool:
    """A trained variant ships only if it beats the prior on both transfer figures."""
    return (
        rep["selection_mean_within_source_auc"] > prior["selection_mean_within_source_auc"]
        and rep["holdout"]["auc"] > prior["holdout"]["auc"]
    )


def calm_judgement(ds: Dataset, feats: dict[str, np.ndarray], version: str) -> tuple[dict, dict]:
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
    is_h = np.concatenate([np.zeros(len(dev.y), bool), np.ones(len(hold.y), bool)])

    def oos(rep: dict) -> np.ndarray:
        return np.concatenate([rep["_z_lopo"], rep["_z_hold"]])

    calibrations = {
        (name, fit_on): calibrate(oos(rep), y_all, s_all, is_h, fit_on=fit_on)
        for name, rep in (("shipped", chosen), ("prior", prior_rep))
        for fit_on in ("set-aside", "out-of-source")
    }
    cal = calibrations[("shipped", SHIPPED_CALIBRATION)]
    prior_cal = calibrations[("prior", SHIPPED_CALIBRATION)]
    head = head_json(variant, dev, cal, version)
    # Neutral (menu/title) clips: where does the shipped judgement put them?
    neutral = np.flatnonzero(ds.labels == "neutral")
    z_neutral = np.array([head_logit(head, ds.tags[ds.patch_clip == c]) for c in neutral])
    p_neutral = sigmoid(cal["platt_a"] * z_neutral + cal["platt_b"])
    for r in reports:
        r.pop("_z_hold")
        r.pop("_z_lopo")
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
        "shipped_calibration": cal,
        "prior_calibration": prior_cal,
        "calibrations_tried": [{"judgement": name, **c} for (name, _), c in calibrations.items()],
        "neutral_clips": {
            "clips": len(neutral),
            "mean_p": round(float(p_neutral.mean()), 4) if len(neutral) else None,
            "in_0.35_0.65": (
                round(float(((p_neutral > 0.35) & (p_neutral < 0.65)).mean()), 4)
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
            "platt_a": cal["platt_a"],
            "platt_b": cal["platt_b"],
            "trained_on": f"{variant.name}; calibration on the set-aside sources",
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
        "platt_a": cal["platt_a"],
        "platt_b": cal["platt_b"],
        "trained_on": (
            f"{variant.name}; correction fitted on the development sources; calibration "
            f"({SHIPPED_CALIBRATION}) on out-of-source logits; set aside: "
            f"{', '.join(HOLDOUT_SOURCES)}"
        ),
    }


def head_logit(head: dict, tags: np.ndarray) -> float:
    """The window logit the runtime head gives (mean of patch logits)."""
    from analyzer.heads import LogisticHead

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version", default="4")
    parser.add_argument(
        "--retrain-speech",
        action="store_true",
        help="also retrain the speech head (by default it is kept as shipped)",
    )
    args = parser.parse_args()
    # check= rows are the regression test's short fixtures, not devset clips.
    rows = [r for r in csv.DictReader(MANIFEST.open()) if "check=" not in r["recipe"]]
    feats = extract(rows, DATA / "features.npz")
    ds = Dataset(rows, feats)
    feats["emb_kept"] = ds.x[:, :200]
    print(f"clips with features: {len(ds.clip_ids)}; patches: {len(ds.x)}")
    calm, calm_rep = calm_judgement(ds, feats, args.version)
    (ROOT / "models" / "calm_head.json").write_text(json.dumps(calm))
    old = json.loads((ROOT / "models" / "head_report.json").read_text())
    report = {"calm": calm_rep, "speech": old.get("speech")}
    if args.retrain_speech:
        grid = [0.01, 0.03, 0.1, 0.3, 1.0]
        speech, speech_rep = train_head(ds, "speech", SPEECH_LABELS, MUSIC_LABELS, set(), grid)
        speech["version"] = args.version
        (ROOT / "models" / "speech_head.json").write_text(json.dumps(speech))
        report["speech"] = speech_rep
    (ROOT / "models" / "head_report.json").write_text(json.dumps(report, indent=2))
    write_card_tables(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
