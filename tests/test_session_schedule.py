"""The patch schedule: a settled piece is judged on fewer patches, with the same states, and
a change of music is still judged at once (issue 15, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodEvent, MoodState
from streamchill.analyzer.session import Session


def analyse(x: np.ndarray, stride: int, chunk: int = 16_000) -> tuple[list[MoodEvent], int]:
    """Events and the number of patches the CNN judged."""
    config = AnalyzerConfig(settled_patch_stride=stride)
    s = Session("test", sample_rate_hz=16_000, config=config, keep_history=True)
    events: list[MoodEvent] = []
    for i in range(0, len(x), chunk):
        events += s.feed(x[i : i + chunk])
    events += s.finish()
    assert s.history is not None
    return events, len(s.history)


def test_a_settled_piece_skips_patches_and_keeps_its_states_and_its_lag(
    examples_16k: dict,
) -> None:
    calm, aggr = examples_16k["calm"], examples_16k["aggressive"]
    x = np.concatenate([calm, calm, aggr])  # 40 s of one calm piece, then a cut at 40 s
    every, n_every = analyse(x, stride=1)
    fewer, n_fewer = analyse(x, stride=2)
    assert n_fewer < n_every
    assert [e.state for e in fewer] == [e.state for e in every]
    cut = 40.0
    followed = next(e.media_time_s for e in fewer if e.media_time_s > cut and e.state is
                    MoodState.AGGRESSIVE)  # fmt: skip
    assert followed - cut <= 5.0


def test_the_thinned_schedule_does_not_depend_on_the_chunking(examples_16k: dict) -> None:
    x = np.concatenate([examples_16k["calm"], examples_16k["calm"]])
    whole, n_whole = analyse(x, stride=2, chunk=len(x))
    odd, n_odd = analyse(x, stride=2, chunk=5_923)
    assert n_whole == n_odd
    assert [(e.media_time_s, e.state) for e in whole] == [(e.media_time_s, e.state) for e in odd]
    for a, b in zip(whole, odd, strict=True):
        assert a.calm_probability == pytest.approx(b.calm_probability, abs=1e-4)


def test_a_stream_ending_while_its_last_patch_lies_in_the_padded_tail_finishes(
    examples_16k: dict,
) -> None:
    # 120,704 samples: the last patch is completed only by the zero-padded frames the mel
    # front end emits at the end, 384 samples past the audio; with danceability refreshed at
    # every patch, its window once asked for audio that never came (ValueError at finish).
    config = AnalyzerConfig(danceability_interval_s=0.1)
    s = Session("test", sample_rate_hz=16_000, config=config, keep_history=True)
    s.feed(examples_16k["calm"][:120_704])
    judged = len(s.history or [])
    last = s.finish()
    assert len(s.history or []) == judged + 1  # the tail's patch was judged
    assert last and last[-1].media_time_s == pytest.approx(120_704 / 16_000, abs=0.01)


def test_a_cut_inside_a_skipped_patch_is_judged_though_novelty_missed_it(
    examples_16k: dict,
) -> None:
    """Mel novelty made blind: the cut (calm -> aggressive at 32.5 s) lies in a patch the
    settled stride skips. The student's look at that patch has it judged after all, so the
    cut is followed from it (4.5 s), not from the next patch on the grid (8.5 s)."""
    calm, aggr = examples_16k["calm"], examples_16k["aggressive"]
    x = np.concatenate([calm, calm[: 12 * 16_000 + 8_000], aggr])
    cut = (len(calm) + 12 * 16_000 + 8_000) / 16_000

    def lag(peek: float | None) -> float:
        config = AnalyzerConfig(novelty_threshold=1e9, peek_skipped_delta=peek)
        s = Session("test", sample_rate_hz=16_000, config=config)
        events = s.feed(x) + s.finish()
        return next(e.media_time_s for e in events if e.media_time_s > cut and e.state is
                    MoodState.AGGRESSIVE) - cut  # fmt: skip

    assert lag(AnalyzerConfig().peek_skipped_delta) <= 5.0 < lag(None)
