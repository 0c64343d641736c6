"""The calm judgement's head kinds on arrays: the fixed tag priors and their bounded correction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamchill.analyzer.baseline import (
    AGGRESSIVE_TAGS,
    CALM_TAGS,
    MSD_TAGS,
    MTT_AGGRESSIVE_TAGS,
    MTT_CALM_TAGS,
    msd_mtt_prior_logit,
    mtt_prior_logit,
    mtt_tag_names,
    tag_prior_logit,
)
from streamchill.analyzer.errors import ModelLoadError
from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.model_files import model_path


def prior_head(
    coef: np.ndarray, intercept: float, bound: float, inputs: str = "msd_prior+tags"
) -> LogisticHead:
    return LogisticHead.from_dict(
        {
            "name": "calm",
            "version": "t",
            "inputs": inputs,
            "mean": [0.0] * len(coef),
            "scale": [1.0] * len(coef),
            "coef": coef.tolist(),
            "intercept": intercept,
            "correction_bound": bound,
        }
    )


def tags_with(calm: float, aggressive: float) -> np.ndarray:
    t = np.zeros((1, 50))
    t[0, MSD_TAGS.index(CALM_TAGS[0])] = calm
    t[0, MSD_TAGS.index(AGGRESSIVE_TAGS[0])] = aggressive
    return t


def test_prior_logit_is_calm_over_aggressive_mass() -> None:
    assert tag_prior_logit(tags_with(0.8, 0.1))[0] > 1.5
    assert tag_prior_logit(tags_with(0.1, 0.8))[0] < -1.5
    # Neither kind of tag: unsure, not an extreme.
    assert tag_prior_logit(tags_with(0.0, 0.0))[0] == pytest.approx(0.0)


def test_zero_bound_is_the_prior_alone() -> None:
    rng = np.random.default_rng(1)
    tags = rng.random((7, 50))
    head = prior_head(rng.normal(size=50), 3.0, bound=0.0)
    assert np.allclose(head.patch_logits(tags, np.zeros((7, 200))), tag_prior_logit(tags))


def test_the_correction_never_moves_a_patch_more_than_its_bound() -> None:
    rng = np.random.default_rng(2)
    tags = rng.random((200, 50))
    head = prior_head(rng.normal(size=50) * 50, 20.0, bound=2.0)
    moved = head.patch_logits(tags, np.zeros((200, 200))) - tag_prior_logit(tags)
    assert np.all(np.abs(moved) <= 2.0 + 1e-9)
    assert np.abs(moved).max() > 1.9  # the bound is reached, not just respected


def mtt_with(calm: float, aggressive: float) -> np.ndarray:
    t = np.zeros((1, 50))
    names = mtt_tag_names()
    t[0, names.index(MTT_CALM_TAGS[0])] = calm
    t[0, names.index(MTT_AGGRESSIVE_TAGS[0])] = aggressive
    return t


def test_mtt_prior_reads_the_shipped_tag_list() -> None:
    assert list(mtt_tag_names()) == json.loads(model_path("mtt_tags.json").read_text())
    assert mtt_prior_logit(mtt_with(0.8, 0.1))[0] > 1.5
    assert mtt_prior_logit(mtt_with(0.1, 0.8))[0] < -1.5
    assert mtt_prior_logit(mtt_with(0.0, 0.0))[0] == pytest.approx(0.0)
    # The two taggers disagreeing leaves the mean prior unsure.
    assert msd_mtt_prior_logit(tags_with(0.8, 0.1), mtt_with(0.1, 0.8))[0] == pytest.approx(0.0)


def test_msd_mtt_head_is_the_mean_prior_plus_a_bounded_correction() -> None:
    rng = np.random.default_rng(3)
    tags, mtt = rng.random((300, 50)), rng.random((300, 50))
    emb = np.zeros((300, 200))
    kind = "msd_mtt_prior+tags"
    alone = prior_head(rng.normal(size=100), 3.0, bound=0.0, inputs=kind)
    assert alone.needs_mtt_tags
    assert np.allclose(alone.patch_logits(tags, emb, mtt), msd_mtt_prior_logit(tags, mtt))
    head = prior_head(rng.normal(size=100) * 50, 20.0, bound=1.0, inputs=kind)
    moved = head.patch_logits(tags, emb, mtt) - msd_mtt_prior_logit(tags, mtt)
    assert np.all(np.abs(moved) <= 1.0 + 1e-9) and np.abs(moved).max() > 0.9
    with pytest.raises(ModelLoadError, match="no MTT tags"):
        head.patch_logits(tags, emb)


def test_shipped_calm_head_is_prior_based_and_bounded() -> None:
    data = json.loads(model_path("calm_head.json").read_text())
    head = LogisticHead.from_dict(data)
    assert head.inputs == "msd_mtt_prior+tags"
    assert len(head.coef) == 100
    assert 0.0 <= head.correction_bound <= 3.0
    # A window with no patches is unsure.
    assert head.window_probability(np.array([])) == 0.5


def mapped_head(**maps: float) -> LogisticHead:
    data = {"name": "calm", "version": "t", "inputs": "tags", "intercept": 0.0}
    return LogisticHead.from_dict({**data, "mean": [0.0], "scale": [1.0], "coef": [1.0], **maps})


def test_the_published_calibration_may_be_flatter_than_the_decision_map() -> None:
    head = mapped_head(platt_a=0.6, platt_b=-0.3, decision_a=1.2, decision_b=-0.6)
    window = np.array([2.0, 3.0])  # mean logit 2.5
    published, decided = head.window_probability(window), head.decision_probability(window)
    assert published == pytest.approx(1 / (1 + np.exp(-(0.6 * 2.5 - 0.3))))
    assert decided == pytest.approx(1 / (1 + np.exp(-(1.2 * 2.5 - 0.6))))
    assert 0.5 < published < decided  # the same side of 0.5, nearer to it
    assert head.decision_probability(np.array([])) == 0.5
    # Without a decision map the state decides on the calibration itself (older head files).
    plain = mapped_head(platt_a=1.2, platt_b=-0.6)
    assert plain.decision_probability(window) == plain.window_probability(window) == decided


@pytest.mark.parametrize(
    "maps",
    [
        {"decision_a": 1.0},
        {"decision_b": 0.0},
        {"platt_a": 1.0, "decision_a": -1.0, "decision_b": 0},
    ],
)
def test_a_decision_map_must_be_whole_and_rank_windows_alike(maps: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="decision"):
        mapped_head(**maps)
