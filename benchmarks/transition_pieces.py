"""The transitions benchmark's input: seeded random sequences of labelled pieces.

A *piece* is one stretch of one kind: a devset clip (calm, aggressive, neutral, speech,
speech over music), a stretch of silence (a -75 dBFS noise floor) or a steady tone (a sine
or a mains hum with harmonics). A *sequence* is a handful of pieces cut hard one after the
other, as a playlist, a pause or a talk show would.

Held out: the music pieces come from the sources the calm judgement never fitted on
(``holdout_sources`` in ``models/head_report.json``: whole games set aside before any fit;
the speech head predates them too). Neutral and speech clips have no set-aside source:
``transition_heads.py`` fits speech heads per sequence without its pieces' sources.
"""

from __future__ import annotations

import csv
import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from machine import ROOT
from streamchill.analyzer.events import MoodState

RATE_HZ = 16_000
DEVSET = ROOT / "data" / "devset" / "clips"
MANIFEST = ROOT / "models" / "devset" / "manifest.csv"
HEAD_REPORT = ROOT / "models" / "head_report.json"

EXPECTED = {
    "calm": MoodState.CALM,
    "aggressive": MoodState.AGGRESSIVE,
    "neutral": MoodState.NEUTRAL,
    "speech": MoodState.SPEECH,
    "speech_over_music": MoodState.SPEECH,
    "silence": MoodState.SILENCE,
    "tone": MoodState.NEUTRAL,
}
"""The state each kind of piece should be followed to."""
MUSIC = ("calm", "aggressive", "neutral")
CLIP_KINDS = (*MUSIC, "speech", "speech_over_music")
WEIGHTS = {
    "calm": 0.24,
    "aggressive": 0.22,
    "neutral": 0.08,
    "speech": 0.1,
    "speech_over_music": 0.1,
    "silence": 0.16,
    "tone": 0.1,
}
"""How often each kind is drawn: mostly music, since flips are counted on steady music."""


def family(change: str) -> str:
    """The family of a kind of change (``"calm->speech"``): five groups with 100+ changes each
    over 128 sequences, where a kind has 3-30 and its p90 is its worst change or two."""
    before, after = change.split("->")
    if after in ("silence", "tone"):
        return "into silence or a tone"
    if after in ("speech", "speech_over_music"):
        return "into a voice"
    if before in ("speech", "speech_over_music"):
        return "out of a voice into music"
    if before in ("silence", "tone"):
        return "music after silence or a tone"
    return "music -> music"


@dataclass(frozen=True)
class Piece:
    kind: str
    name: str
    start_s: float
    end_s: float

    @property
    def expected(self) -> MoodState:
        return EXPECTED[self.kind]


Timeline = list[tuple[float, MoodState]]
"""A state machine's events: (media time, state)."""

PATIENCE_S = 20.0
"""How long a consumer waits before it believes a new state: the Home Assistant example's
``for:`` (docs/mqtt.md) and the extension's calm-streak grace (``STREAK_GRACE_MS``)."""


def patience(steady: Timeline, end_s: float) -> tuple[int, list[float], int]:
    """What a consumer waiting ``PATIENCE_S`` makes of a piece's steady events (ending at
    ``end_s``): (the changes it acts on, the lengths of the interruptions that ended inside
    the piece, 1 if a change was still open at the piece's end else 0). A state counts once
    it has held that long; an interruption shorter than that, back to the state believed,
    is no change to it. Pieces are 20-30 s long, so a change seen only after 20 s can rarely
    fit in one: the lengths say how far below the patience the interruptions stay."""
    runs = [(t, s) for i, (t, s) in enumerate(steady) if i == 0 or s is not steady[i - 1][1]]
    if not runs:
        return 0, [], 0
    believed, flips, lengths, still_open = runs[0][1], 0, [], 0
    for i, ((start, state), stop) in enumerate(
        zip(runs, [t for t, _ in runs[1:]] + [end_s], strict=True)
    ):
        if state is believed:
            continue
        if stop - start >= PATIENCE_S:
            believed, flips = state, flips + 1
        elif i + 1 < len(runs):
            lengths.append(stop - start)  # ignored: over before the consumer believed it
        else:
            still_open = 1  # the piece ended first
    return flips, lengths, still_open


def patience_summary(
    waited: list[tuple[int, list[float], int]], steady_s: float
) -> dict[str, object]:
    """Pooled :func:`patience` of every scored music piece, over ``steady_s`` of steady music."""
    lengths = sorted(x for _, ls, _ in waited for x in ls)
    acted = sum(a for a, _, _ in waited)
    return {
        "music_patient_flips": acted,
        "music_patient_flips_per_hour": acted / max(steady_s / 3600, 1e-9),
        "music_interruptions": {
            "ended_inside": len(lengths),
            "open_at_end": sum(o for _, _, o in waited),
            "p50_s": round(lengths[len(lengths) // 2], 2) if lengths else None,
            "max_s": round(lengths[-1], 2) if lengths else None,
        },
    }


@dataclass
class Sequence:
    seed: int
    pieces: list[Piece]
    audio: np.ndarray
    """16 kHz mono float32."""

    def piece_audio(self, piece: Piece) -> np.ndarray:
        """The samples of one of this sequence's pieces."""
        return self.audio[round(piece.start_s * RATE_HZ) : round(piece.end_s * RATE_HZ)]


def holdout_sources(head_report: Path = HEAD_REPORT) -> list[str]:
    """The source packages the calm judgement never fitted on, from the head report."""
    report = json.loads(head_report.read_text(encoding="utf-8"))
    sources = report.get("calm", {}).get("holdout_sources")
    if not sources:
        raise RuntimeError(
            f"{head_report.name} names no holdout_sources: the transitions "
            "benchmark needs music the heads never trained on"
        )
    return list(sources)


def clip_pool(
    manifest: Path = MANIFEST,
    kinds: tuple[str, ...] = CLIP_KINDS,
    music_sources: set[str] | None = None,
) -> dict[str, list[tuple[str, Path]]]:
    """(clip id, wav path) per kind: every devset clip of it, calm and aggressive ones only
    from ``music_sources`` if given."""
    pool: dict[str, list[tuple[str, Path]]] = {k: [] for k in CLIP_KINDS if k in kinds}
    with manifest.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label, clip = row["label"], row["clip_id"]
            if label not in pool or clip.startswith("check-"):
                continue
            mood = label in ("calm", "aggressive")
            if mood and music_sources is not None and row["package"] not in music_sources:
                continue
            path = DEVSET / label / f"{clip}.wav"
            if path.exists():
                pool[label].append((clip, path))
    missing = [k for k, v in pool.items() if not v]
    if missing:
        raise RuntimeError(
            f"no devset audio for {missing} under {DEVSET.relative_to(ROOT)}; build it with "
            "models/devset/build_devset.py"
        )
    return pool


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != RATE_HZ or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise RuntimeError(f"{path.name}: expected 16 kHz mono 16-bit PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def audible_part(audio: np.ndarray, block_s: float = 0.1) -> np.ndarray:
    """The clip without its silent edges (0.1 s blocks below the analyzer's silence level).

    A clip cut from the end of a track can end in a fade to silence (hw-underwater-2's last
    4 s are below -55 dBFS): the state rightly says ``silence`` there, which would count
    as a flip inside a steady piece. The cut should be where the music stops.
    """
    from streamchill.analyzer.config import AnalyzerConfig

    n = round(block_s * RATE_HZ)
    blocks = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    db = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    loud = np.flatnonzero(db >= AnalyzerConfig().silence_db)
    if len(loud) == 0:
        return audio
    return audio[loud[0] * n : (loud[-1] + 1) * n]


def synth(kind: str, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """Silence (5-15 s of a -75 dBFS noise floor) or a steady tone (8-15 s at -20 dBFS)."""
    if kind == "silence":
        n = round(rng.uniform(5.0, 15.0) * RATE_HZ)
        return "silence", (rng.standard_normal(n) * 10 ** (-75 / 20)).astype(np.float32)
    n = round(rng.uniform(8.0, 15.0) * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    if rng.random() < 0.5:
        f = float(rng.uniform(110.0, 1000.0))
        wave_ = np.sin(2 * np.pi * f * t)
        name = f"sine {f:.0f} Hz"
    else:
        f = float(rng.choice([50.0, 60.0]))
        wave_ = sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 6))
        name = f"hum {f:.0f} Hz"
    wave_ = wave_ / np.sqrt(np.mean(wave_**2)) * 10 ** (-20 / 20)
    return name, wave_.astype(np.float32)


def build_sequence(
    seed: int,
    n_pieces: int,
    pool: dict[str, list[tuple[str, Path]]],
    kinds: tuple[str, ...] = tuple(WEIGHTS),
) -> Sequence:
    """A seeded random sequence: no kind twice in a row except music (a playlist)."""
    rng = np.random.default_rng(seed)
    kinds = tuple(k for k in WEIGHTS if k in kinds)
    weights = np.array([WEIGHTS[k] for k in kinds])
    pieces: list[Piece] = []
    parts: list[np.ndarray] = []
    used: set[str] = set()
    t = 0.0
    previous = ""
    while len(pieces) < n_pieces:
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        if kind == previous and kind not in MUSIC:
            continue
        if kind in CLIP_KINDS:
            options = [c for c in pool[kind] if c[0] not in used]
            if not options:
                continue
            clip, path = options[int(rng.integers(len(options)))]
            used.add(clip)
            name, audio = clip, audible_part(read_wav(path))
        else:
            name, audio = synth(kind, rng)
        duration = len(audio) / RATE_HZ
        pieces.append(Piece(kind, name, t, t + duration))
        parts.append(audio)
        t += duration
        previous = kind
    return Sequence(seed, pieces, np.concatenate(parts))
