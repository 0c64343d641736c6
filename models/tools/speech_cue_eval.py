"""How well the pause share (``analyzer/speech_cues.py``) tells speech from music, per source.

Build-time only (needs scikit-learn for the held-out speech heads: ``pip install -e
'.[train]'``, and the devset clips and cached features that ``train_heads.py`` writes):

    python models/tools/speech_cue_eval.py

Every devset clip is cut into the same non-overlapping 3 s patches as ``train_heads.py``.
Per patch: the pause share, and the calibrated speech logit of a head that never heard the
clip's voice (``benchmarks/transition_heads.py``: one head per fold of the neutral, speech
and voice-over sources; calm and aggressive music from the calm judgement's held-out
sources, which neither fold head fitted on). Printed:

1. the pause share alone: AUC of speech and of voice-over against all music, per voice
   source, and the share of each music source's patches at or above the thresholds;
2. the state machine's patch rule on held-out logits: a patch *sounds like speech* at a
   logit of ``speech_patch_logit`` or more, or at ``speech_cue_logit`` or more with a pause
   share of ``speech_cue_pauses`` or more; recall on unseen voices and false alarms on
   music nobody fitted on, for a grid of both thresholds;
3. the same with the cue's line (``speech_cue_slope``, ``speech_cue_line_logit``,
   ``speech_cue_floor_logit``), beside the corner and instead of it: per slope, the lowest
   line logit that leaves every held-out music patch below the line.

Nothing is fitted on the cue: the thresholds are read off tables 2 and 3.
"""

from __future__ import annotations

import csv
import sys
import wave
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_eval import auc  # noqa: E402
from transition_heads import FEATURES, build_folds  # noqa: E402
from transition_pieces import HEAD_REPORT, MANIFEST, holdout_sources  # noqa: E402

from streamchill.analyzer.config import AnalyzerConfig  # noqa: E402
from streamchill.analyzer.hysteresis import cue_passes  # noqa: E402
from streamchill.analyzer.mel import mel_frames, patches  # noqa: E402
from streamchill.analyzer.speech_cues import pause_share  # noqa: E402

CLIPS = ROOT / "data" / "devset" / "clips"
SPEECH = ("speech", "speech_over_music")
LOGITS = (3.0, 5.0, 8.0, 12.0)
PAUSES = (0.3, 0.4, 0.45, 0.5)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def main() -> int:
    with MANIFEST.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if "check=" not in r.get("recipe", "")]
    by_id = {r["clip_id"]: r for r in rows}
    held_out = set(holdout_sources(HEAD_REPORT))
    folds = build_folds(MANIFEST, held_out)
    with np.load(FEATURES, allow_pickle=False) as z:
        ids, patch_clip, tags, emb = z["clip_ids"], z["patch_clip"], z["tags"], z["emb"]
    heads = [b.speech for b in folds.bundles]
    cal = [h.platt_a * h.patch_logits(tags, emb) + h.platt_b for h in heads]
    label, voice, logit, cue, honest = [], [], [], [], []
    for i, cid in enumerate(ids.tolist()):
        row = by_id.get(cid)
        path = CLIPS / row["label"] / f"{cid}.wav" if row else None
        if row is None or path is None or not path.exists():
            continue
        mine = np.flatnonzero(patch_clip == i)
        shares = [pause_share(p) for p in patches(mel_frames(read_wav(path)))]
        if len(shares) != len(mine):
            raise RuntimeError(f"{cid}: {len(shares)} patches here, {len(mine)} in the cache")
        fold = folds.clip_fold.get(cid)
        music_held = row["label"] in ("calm", "aggressive") and row["package"] in held_out
        for j, share in zip(mine, shares, strict=True):
            label.append(row["label"])
            voice.append(row["package"].split("+")[0])
            cue.append(share)
            if fold is not None:  # judged by the head that never heard the fold
                logit.append(cal[fold][j])
            else:  # held-out music: neither head heard it; the higher logit is the worse
                logit.append(max(cal[0][j], cal[1][j]))
            honest.append(fold is not None or music_held)
    lab, src = np.array(label), np.array(voice)
    x, z_, ok = np.array(cue), np.array(logit), np.array(honest)
    music = ~np.isin(lab, SPEECH)
    print(f"{len(x)} patches; {music.sum()} music, {(music & ok).sum()} of them held out")
    print("\n1. pause share alone (AUC against all music; music: share of patches >= T)")

    def against_music(mask: np.ndarray) -> float:
        y = np.r_[np.ones(mask.sum()), np.zeros(music.sum())]
        return auc(np.r_[x[mask], x[music]], y)

    for kind in SPEECH:
        mask = lab == kind
        print(f"  {kind}: AUC {against_music(mask):.3f}, median {np.median(x[mask]):.2f}")
    print(f"  music: median {np.median(x[music]):.2f}, p90 {np.percentile(x[music], 90):.2f}")
    per: dict[str, list[str]] = defaultdict(list)
    for s in sorted(set(src[~music])):
        for kind in SPEECH:
            m = (src == s) & (lab == kind)
            if m.sum():
                per[s].append(f"{kind} n={m.sum()} AUC {against_music(m):.3f}")
    for s, parts in per.items():
        print(f"  voice {s}: " + "; ".join(parts))
    for s in sorted(set(src[music])):
        m = music & (src == s)
        shares = " ".join(f">={t}: {np.mean(x[m] >= t):.3f}" for t in PAUSES)
        print(f"  music {s} (n={m.sum()}): {shares}")
    print("\n2. patch sounds like speech: logit >= 19, or logit >= L and pause share >= T")
    base = z_ >= 19.0
    for kind in SPEECH:
        print(f"  logit >= 19 alone: {kind} {np.mean(base[(lab == kind) & ok]):.3f}")
    for low in LOGITS:
        for t in PAUSES:
            hit = base | ((z_ >= low) & (x >= t))
            figures = ", ".join(f"{k} {np.mean(hit[(lab == k) & ok]):.3f}" for k in SPEECH)
            print(f"  L={low:4.1f} T={t:.2f}: {figures}; held-out music "
                  f"{hit[music & ok].sum()} of {(music & ok).sum()}")  # fmt: skip
    print("\n3. the cue's corner and a line beyond it (hysteresis.cue_passes), floor -3 / none;")
    print("   the line's logit at the corner's pause share: the lowest leaving music below it")
    c = AnalyzerConfig()
    for slope in (0.0, 45.0, 55.0, 65.0, 75.0):
        for floor, corner in ((-3.0, True), (-99.0, False)):
            for line in np.arange(0.0, 19.01, 0.25):
                hit = base | cue_hits(c, slope, float(line), floor, corner, z_, x)
                if not hit[music & ok].any():
                    break
            figures = ", ".join(f"{k} {np.mean(hit[(lab == k) & ok]):.3f}" for k in SPEECH)
            what = "corner + line" if corner else "line alone"
            print(f"  {what}, slope {slope:4.0f} logit {line:5.2f} floor {floor:5.1f}: "
                  f"{figures}; held-out music {hit[music & ok].sum()}")  # fmt: skip
    return 0


def cue_hits(
    c: AnalyzerConfig,
    slope: float,
    line: float,
    floor: float,
    corner: bool,
    z: np.ndarray,
    x: np.ndarray,
) -> np.ndarray:
    """Which patches pass the cue with this line (and the default corner, or none)."""
    cfg = replace(c, speech_cue_slope=slope, speech_cue_line_logit=line,
                  speech_cue_floor_logit=floor)  # fmt: skip
    if not corner:  # a corner no patch reaches
        cfg = replace(cfg, speech_cue_logit=1e9)
    return np.array([cue_passes(cfg, float(a), float(b)) for a, b in zip(z, x, strict=True)])


if __name__ == "__main__":
    sys.exit(main())
