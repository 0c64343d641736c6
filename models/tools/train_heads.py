"""Train and calibrate the calm head and the speech head on the development set.

Build-time only (needs scikit-learn: ``pip install -e '.[train]'``), never at run time.

    python models/devset/build_devset.py                # cut the clips from Debian packages
    python models/tools/train_heads.py --version 5 --features data/student/features-student_f32.npz

Every clip is cut into non-overlapping 3 s patches, which the shipped LiteRT backbone turns
into tags [50] and an embedding [200] (cached in data/devset/features.npz; ``--features``
names another cache, e.g. the student backbone's outputs on the same clips, which also holds
its MTT tags [50]; ``--mtt-features`` takes the MTT tags from another cache;
``--report-only PATH`` judges it without touching the shipped files). The calm judgement
needs MTT tags.

Calm judgement (``calm_judgement.py``, ``transfer_eval.py``, ``calibration.py`` beside this
script): every variant in ``VARIANTS`` goes through a protocol that measures transfer to
sources it never saw — whole sources set aside before any fitting, selection by the mean AUC
within development sources that hold both classes (leave-one-source-out fits), the untrained
mean of the MSD and MTT tag priors as the bar — and the winner's calibration map is chosen
among candidates measured with held-out maps (each clip's probability from a map that never
saw its source).
The report goes to models/head_report.json and the tables of models/MODEL_CARD.md
(``model_card.py``), including the per-source selection figures of the shipped judgement and
of the fixed prior.

The speech head (logistic on embedding + tags, C by 5-fold GroupKFold by track, Platt on
out-of-fold logits) is kept as shipped unless ``--retrain-speech``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from calm_judgement import calm_judgement, judge_given_head  # noqa: E402
from feature_cache import DATA, extend_feature_cache  # noqa: E402
from model_card import write_card_tables  # noqa: E402  (beside this script)
from transfer_eval import auc, ece, platt, sigmoid  # noqa: E402

from streamchill.analyzer.model import MusicnnTagger  # noqa: E402

MANIFEST = ROOT / "models" / "devset" / "manifest.csv"
SPEECH_LABELS = {"speech", "speech_over_music"}
MUSIC_LABELS = {"calm", "aggressive", "neutral"}


def extract(rows: list[dict[str, str]], cache: Path) -> dict[str, np.ndarray]:
    """Per-patch tags and embeddings of the shipped backbone for every clip (cached by clip
    id, extended in place: ``feature_cache``)."""
    tagger: MusicnnTagger | None = None

    def predict(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal tagger
        tagger = tagger or MusicnnTagger.load(num_threads=2)
        return tagger.predict(p)

    return extend_feature_cache(rows, cache, predict, {"tags": 50, "emb": 200})


def with_mtt(feats: dict[str, np.ndarray], source: Path | None) -> dict[str, np.ndarray]:
    """``feats`` with MTT tags [P, 50] in its patch order: its own ``mtt``, or ``source``'s.

    ``source`` either has the same patches in the same order (only an ``mtt`` array, e.g.
    data/student/teacher-mtt-features.npz beside data/devset/features.npz) or its own
    ``clip_ids`` and ``patch_clip`` (e.g. the student's cache): then patches are matched by
    clip id and position in the clip, which must agree in number.
    """
    if source is None:
        if "mtt" not in feats:
            raise SystemExit(
                "the calm judgement needs MTT tags: the feature cache has none; name a cache "
                "that has them with --mtt-features (e.g. the student's)"
            )
        return feats
    with np.load(source, allow_pickle=False) as z:
        other = {k: z[k] for k in z.files}
    n = len(feats["patch_clip"])
    if "clip_ids" not in other:
        if len(other["mtt"]) != n:
            raise SystemExit(f"{source}: {len(other['mtt'])} patches, the features have {n}")
        return {**feats, "mtt": other["mtt"]}
    rows = {
        str(c): np.flatnonzero(other["patch_clip"] == i) for i, c in enumerate(other["clip_ids"])
    }
    mtt = np.zeros((n, 50), np.float32)
    for i, c in enumerate(feats["clip_ids"]):
        mine = np.flatnonzero(feats["patch_clip"] == i)
        theirs = rows.get(str(c), np.zeros(0, np.int64))
        if len(mine) != len(theirs):
            raise SystemExit(f"{source}: clip {c} has {len(theirs)} patches, not {len(mine)}")
        mtt[mine] = other["mtt"][theirs]
    return {**feats, "mtt": mtt}


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
        # MTT tags: the calm judgement needs them, the speech head does not (a musicnn-only
        # cache, like the transitions benchmark's, has none).
        self._mtt = feats["mtt"][patch_keep].astype(np.float64) if "mtt" in feats else None
        self.x = np.concatenate([feats["emb"][patch_keep], self.tags], axis=1).astype(np.float64)
        self.labels = np.array([r["label"] for r in self.rows])
        self.tracks = np.array([r["track_id"] for r in self.rows])
        self.packages = np.array([r["package"] for r in self.rows])

    @property
    def mtt(self) -> np.ndarray:
        if self._mtt is None:
            raise SystemExit(
                "this feature cache has no MTT tags (key 'mtt'), which the calm judgement "
                "reads: pass the student's cache with --features or --mtt-features"
            )
        return self._mtt


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit((x - mean) / scale, y, sample_weight=w)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def linear_head_json(
    name: str, params: tuple, a: float, b: float, trained_on: str, **extra: str
) -> dict:
    """The head file (``analyzer.heads`` format) of a linear model on embedding + tags:
    ``params`` as :func:`fit_logistic` returns them, Platt ``a``, ``b``."""
    mean, scale, coef, intercept = params
    return {
        "name": name,
        **extra,
        "inputs": "embedding+tags",
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": coef.tolist(),
        "intercept": intercept,
        "platt_a": a,
        "platt_b": b,
        "trained_on": trained_on,
    }


def patch_logits(params: tuple, x: np.ndarray) -> np.ndarray:
    mean, scale, coef, intercept = params
    return ((x - mean) / scale) @ coef + intercept


def clip_logits(ds: Dataset, logits: np.ndarray, clips: np.ndarray) -> np.ndarray:
    return np.array([logits[ds.patch_clip == c].mean() for c in clips])


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
    head = linear_head_json(
        name, params, a, b, f"devset: {len(clips)} clips, {len(set(groups))} tracks; C={c:g}"
    )
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version", default="4")
    parser.add_argument(
        "--retrain-speech",
        action="store_true",
        help="also retrain the speech head (by default it is kept as shipped)",
    )
    parser.add_argument(
        "--features",
        type=Path,
        default=DATA / "features.npz",
        help="per-patch feature cache (clip_ids, patch_clip, tags [P,50], emb [P,200]); "
        "clips missing from it are run through the shipped backbone and added",
    )
    parser.add_argument(
        "--mtt-features",
        type=Path,
        help="take the MTT tags [P, 50] from this cache instead of --features' own 'mtt' "
        "(e.g. musicnn's MSD tags with the student's MTT tags: the cascade's teacher patches)",
    )
    parser.add_argument(
        "--judge-head",
        type=Path,
        metavar="HEAD_JSON",
        help="also judge this calm head file, unchanged, on these features (in the report)",
    )
    parser.add_argument(
        "--report-only",
        type=Path,
        metavar="REPORT_JSON",
        help="write the report here and leave the shipped heads, head_report.json and the "
        "model card untouched (e.g. to judge another backbone's features)",
    )
    parser.add_argument("--exclude-sources", default="", help="leave these packages out (a,b)")
    parser.add_argument(
        "--card-block", help="with --report-only: also write its tables into this card block"
    )
    args = parser.parse_args()
    # check= rows are the regression test's short fixtures, not devset clips.
    drop = set(args.exclude_sources.split(","))  # e.g. sources newer than a shipped version
    rows = [r for r in csv.DictReader(MANIFEST.open()) if "check=" not in r["recipe"]]
    rows = [r for r in rows if r["package"] not in drop]
    feats = with_mtt(extract(rows, args.features), args.mtt_features)
    ds = Dataset(rows, feats)
    feats["emb_kept"] = ds.x[:, :200]
    print(f"clips with features: {len(ds.clip_ids)}; patches: {len(ds.x)}")
    calm, calm_rep = calm_judgement(ds, feats, args.version)
    if args.judge_head:
        given = json.loads(args.judge_head.read_text())
        calm_rep["given_head_on_these_features"] = judge_given_head(given, ds, feats)
    calm_rep["features"] = {
        "msd_tags": args.features.name,
        "mtt_tags": (args.mtt_features or args.features).name,
    }
    old = json.loads((ROOT / "models" / "head_report.json").read_text())
    report = {"calm": calm_rep, "speech": old.get("speech")}
    if args.report_only:
        args.report_only.write_text(json.dumps({**report, "calm_head": calm}, indent=2))
        print(f"report (calm head included) written to {args.report_only}; nothing shipped")
        if args.card_block:
            calm_rep["status"] = "Would ship under the rule (not shipped)"
            write_card_tables(report, name=args.card_block)
        return 0
    (ROOT / "models" / "calm_head.json").write_text(json.dumps(calm))
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
