"""The transitions benchmark's pure parts: how it scores a timeline, cuts a clip's silent
edges, and deals speech sources to folds (the benchmark itself is not run in the suite)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from streamchill.analyzer.events import MoodState

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, ModuleType]]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import transition_heads
        import transition_pieces
        import transition_verdicts
        import transitions

        yield {"t": transitions, "p": transition_pieces, "h": transition_heads,
               "v": transition_verdicts}  # fmt: skip
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_lag_flips_and_speech_in_music_are_scored_per_piece(bench: dict) -> None:
    piece = bench["p"].Piece
    pieces = [piece("speech", "talk", 0.0, 20.0), piece("calm", "song", 20.0, 50.0)]
    timeline = [(float(t), MoodState.SPEECH) for t in range(3, 21)]
    timeline += [(float(t), MoodState.SPEECH) for t in range(21, 24)]  # 3 s to follow
    timeline += [(float(t), MoodState.CALM) for t in range(24, 40)]
    timeline += [(40.0, MoodState.NEUTRAL)]  # one flip inside the song
    timeline += [(float(t), MoodState.CALM) for t in range(41, 51)]
    s = bench["t"].score(pieces, [True, True], timeline)
    assert s["lags"] == [("speech->calm", 4.0)]
    assert s["flips"]["music"] == 2  # calm -> neutral -> calm
    assert s["speech_events"] == 0  # the speech events lie in the song's first 5 s: lag
    assert s["late"] == []  # 4 s is within the target


def test_a_consumer_waiting_twenty_seconds_acts_only_on_states_that_hold_that_long(
    bench: dict,
) -> None:
    """An interruption shorter than the patience, back to the state before, is no change to
    a Home Assistant automation with ``for:`` or to the extension's calm streak; a new
    state that holds that long is one, and so is the way back when it holds as long."""
    piece, t = bench["p"].Piece, bench["t"]
    song = [piece("calm", "song", 0.0, 90.0)]
    calm, neutral, aggressive = MoodState.CALM, MoodState.NEUTRAL, MoodState.AGGRESSIVE
    timeline = [(float(x), calm) for x in range(1, 20)]
    timeline += [(float(x), neutral) for x in range(20, 25)]  # 5 s: not acted on
    timeline += [(float(x), calm) for x in range(25, 40)]
    timeline += [(float(x), aggressive) for x in range(40, 65)]  # 25 s: acted on
    timeline += [(float(x), calm) for x in range(65, 91)]  # back for 26 s: acted on
    s = t.score(song, [True], timeline)
    assert s["flips"]["music"] == 4
    result = t.summarize([s])
    assert result["music_patient_flips"] == 2
    assert result["music_patient_flips_per_hour"] == pytest.approx(2 / (89 / 3600))
    # The 5 s neutral is the one interruption it ignored; nothing is left open at the end.
    assert result["music_interruptions"] == {
        "ended_inside": 1,
        "open_at_end": 0,
        "p50_s": 5.0,
        "max_s": 5.0,
    }
    # A change 10 s before the piece ends: neither acted on nor over, but open.
    ends_loud = [(float(x), calm) for x in range(1, 20)] + [
        (float(x), aggressive) for x in range(20, 31)
    ]
    cut = t.summarize([t.score([piece("calm", "short", 0.0, 30.0)], [True], ends_loud)])
    assert (cut["music_patient_flips"], cut["music_interruptions"]["open_at_end"]) == (0, 1)


def test_the_music_clips_behind_flips_and_speech_are_named_with_how_often_they_were_drawn(
    bench: dict,
) -> None:
    """A few held-out clips recur across sequences: the figures must say whose they are."""
    piece, t = bench["p"].Piece, bench["t"]
    pieces = [piece("calm", "song", 0.0, 20.0), piece("aggressive", "staccato", 20.0, 40.0)]
    staccato = [(float(t_), MoodState.AGGRESSIVE) for t_ in range(24, 41)]
    staccato[6] = (30.0, MoodState.SPEECH)  # called speech once, 10 s in: two flips
    timeline = [(float(t_), MoodState.CALM) for t_ in range(3, 21)] + staccato
    once = t.score(pieces, [True, True], timeline)
    again = t.score(pieces, [True, True], [(x, MoodState.CALM) for x, _ in timeline[:18]])
    result = t.summarize([once, again])
    assert result["music_pieces"] == {"scored": 4, "distinct": 2}
    assert result["restless_pieces"] == [
        {"piece": "staccato", "scored": 2, "flips": 2, "speech_events": 1}
    ]


def test_a_piece_never_followed_is_an_infinite_lag(bench: dict) -> None:
    piece = bench["p"].Piece
    pieces = [piece("calm", "a", 0.0, 30.0), piece("neutral", "b", 30.0, 60.0)]
    timeline = [(float(t), MoodState.CALM) for t in range(3, 61)]
    s = bench["t"].score(pieces, [True, True], timeline, seed=7)
    (kind, lag), = s["lags"]  # fmt: skip
    assert kind == "calm->neutral" and lag == float("inf")
    # Listed among the late changes, with what it takes to find it again.
    assert s["late"] == [{"seed": 7, "change": "calm->neutral", "from": "a", "to": "b",
                          "cut_s": 30.0, "lag_s": None}]  # fmt: skip


def test_a_clip_that_fades_to_silence_ends_where_the_music_stops(bench: dict) -> None:
    rate = bench["p"].RATE_HZ
    music = (0.1 * np.sin(np.arange(2 * rate) * 0.05)).astype(np.float32)
    silent = np.full(rate, 1e-5, dtype=np.float32)  # -100 dBFS
    cut = bench["p"].audible_part(np.concatenate([silent, music, silent]))
    assert abs(len(cut) - len(music)) <= rate // 10


def test_a_sequence_is_judged_by_heads_that_never_heard_its_sources(bench: dict) -> None:
    h = bench["h"]
    rows = [
        {"label": "speech", "package": "voice-a", "clip_id": "a1"},
        {"label": "speech", "package": "voice-a", "clip_id": "a2"},
        {"label": "speech", "package": "voice-b", "clip_id": "b1"},
        {"label": "neutral", "package": "game-c", "clip_id": "c1"},
        {"label": "calm", "package": "game-c", "clip_id": "c2"},
        {"label": "speech_over_music", "package": "voice-b+game-c", "clip_id": "bc"},
        {"label": "speech_over_music", "package": "voice-a+game-d", "clip_id": "ad"},
        {"label": "aggressive", "package": "game-e", "clip_id": "e1"},
        {"label": "calm", "package": "held-game", "clip_id": "h1"},
    ]
    by_clip = {r["clip_id"]: r for r in rows}
    # A voice-over names its voice and its bed; every other piece its package; silence and
    # tones have none.
    pieces = [("calm", "h1"), ("speech_over_music", "bc"), ("silence", "silence")]
    left_out = h.sequence_sources(pieces, by_clip)
    assert left_out == {"held-game", "voice-b", "game-c"}
    heard = {r["clip_id"] for r in h.training_rows(rows, set(left_out), {"held-game"})}
    # Every clip sharing a source with the sequence's pieces goes, music of the voice-over's
    # bed too; the calm head's set-aside games never train it.
    assert heard == {"a1", "a2", "ad", "e1"}


def test_a_piece_is_judged_on_a_fixed_grid_of_its_own_audio(bench: dict) -> None:
    """Which pieces count must not depend on the session's schedule nor on the neighbours:
    the verdict's patches are cut from the piece alone, every 3 s from its start."""
    p, v = bench["p"], bench["v"]
    rate = p.RATE_HZ
    rng = np.random.default_rng(0)
    song = (0.1 * rng.standard_normal(10 * rate)).astype(np.float32)
    grids = []
    for before_s in (2.0, 7.3):
        before = (0.3 * rng.standard_normal(round(before_s * rate))).astype(np.float32)
        after = (0.3 * rng.standard_normal(3 * rate)).astype(np.float32)
        start = len(before) / rate
        piece = p.Piece("calm", "song", start, start + len(song) / rate)
        seq = p.Sequence(0, [piece], np.concatenate([before, song, after]))
        grids.append(v.grid_patches(seq.piece_audio(piece)))
    (a, starts), (b, _) = grids
    np.testing.assert_array_equal(a, b)
    # From the second mel frame (the first is half padding), every 187 frames; a patch
    # starting at 9 s would end past the piece.
    np.testing.assert_allclose(starts * 62.5, [1, 188, 375])


def test_the_kinds_with_a_voice_are_pooled_beside_each_kind(bench: dict) -> None:
    lags = [("calm->speech", 3.0), ("speech->aggressive", 9.0), ("calm->aggressive", 20.0)]
    lags += [("silence->speech_over_music", 4.0)] * 8
    score = {"lags": lags, "steady_s": {"music": 60.0, "all": 60.0},
             "flips": {"music": 0, "all": 0}, "music_events": 10, "speech_events": 0}  # fmt: skip
    s = bench["t"].summarize([score])
    assert s["voice_changes"] == 10  # calm -> aggressive has no voice in it
    assert s["voice_lag_p90_s"] == 4.0
    assert s["by_kind"]["speech->aggressive"]["p90_s"] == 9.0  # each kind's own stays
    assert s["worst_kind_p90_s"] == 20.0
    assert s["late_changes"] == 2  # 9 s and 20 s: later than the 5 s target


def test_every_change_belongs_to_one_family_reported_beside_the_kinds(bench: dict) -> None:
    """Families pool kinds (a kind has 3-30 changes, its p90 is its worst one or two)."""
    family = bench["p"].family
    assert family("calm->silence") == family("speech->tone") == "into silence or a tone"
    assert family("tone->speech_over_music") == family("calm->speech") == "into a voice"
    assert family("speech->calm") == "out of a voice into music"
    assert family("silence->aggressive") == "music after silence or a tone"
    assert family("neutral->calm") == "music -> music"
    lags = [("calm->speech", 3.0), ("tone->speech", 9.0), ("calm->aggressive", 4.0)]
    score = {"lags": lags, "steady_s": {"music": 60.0, "all": 60.0},
             "flips": {"music": 0, "all": 0}, "music_events": 10, "speech_events": 0}  # fmt: skip
    fams = bench["t"].summarize([score])["by_family"]
    assert fams["into a voice"] == {"n": 2, "p90_s": 9.0, "late": 1}
    assert fams["music -> music"] == {"n": 1, "p90_s": 4.0, "late": 0}
