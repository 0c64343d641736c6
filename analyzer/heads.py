"""Small trained heads on top of the musicnn backbone, loaded from JSON shipped in ``models/``.

A head is a logistic model over one patch's standardized inputs (the 200-d embedding,
the 50 tag probabilities, or both). A window's probability comes from the mean of its
patch logits passed through a Platt calibration fitted at the window level, because the
window, not the patch, is what a user is shown.

JSON shape::

    {"name": "calm", "version": "...", "inputs": "embedding+tags",
     "mean": [...], "scale": [...], "coef": [...], "intercept": 0.0,
     "platt_a": 1.0, "platt_b": 0.0, "decision_a": 1.0, "decision_b": 0.0}

Two maps of the window logit, because the probability a user is shown and the one the state
machine decides on answer different questions. ``platt_a``/``platt_b`` give the published,
calibrated probability (``window_probability``): on music from sources the judgement never
saw it may have to be flatter, so that a clip it gets wrong lands near the neutral band,
not at 0.01. ``decision_a``/``decision_b`` (optional; the calibration map when absent) give
the *decision* probability (``decision_probability``) that the state thresholds, the change
deltas and the cascade's close-call margins read (``AnalyzerConfig``): the scale they were
measured on. So the calibration can be tempered without slowing the state's response to a
change of music: both maps rank windows alike, only the published one is flatter.

``inputs: "msd_prior+tags"`` is the calm judgement built on the fixed MSD tag mapping
(``analyzer.baseline.tag_prior_logit``): patch logit = prior logit + a correction learned
on the standardized tags, bounded to ``correction_bound`` logits by a tanh (0 bound: the
prior alone). The prior transfers to music nobody trained on; the bound keeps whatever the
devset taught from overruling it.

``inputs: "msd_mtt_prior+tags"`` (calm-5 on) is the same shape on both taggers: patch logit =
the mean of the MSD and MTT prior logits (``analyzer.baseline.msd_mtt_prior_logit``) + a
bounded correction on the 100 standardized tags [MSD 50 | MTT 50]. It needs the MTT tags
(``mtt_tags``), which the student backbone gives with the MSD tags in one pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamchill.analyzer.baseline import msd_mtt_prior_logit, tag_prior_logit
from streamchill.analyzer.errors import ModelLoadError

INPUT_KINDS = ("embedding", "tags", "embedding+tags", "msd_prior+tags", "msd_mtt_prior+tags")
PRIOR_KINDS = ("msd_prior+tags", "msd_mtt_prior+tags")


@dataclass(frozen=True)
class LogisticHead:
    """A calibrated logistic head; see the module docstring for the file format."""

    name: str
    version: str
    inputs: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    platt_a: float
    platt_b: float
    correction_bound: float = 0.0
    """For the prior kinds: the most the learned correction may move a patch logit."""
    decision_a: float | None = None
    decision_b: float | None = None
    """The decision map (module docstring); None: the calibration map (``platt_*``)."""

    @property
    def needs_mtt_tags(self) -> bool:
        """Whether ``patch_logits`` needs the MTT tags (only the student backbone gives them)."""
        return self.inputs == "msd_mtt_prior+tags"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticHead:
        inputs = data["inputs"]
        if inputs not in INPUT_KINDS:
            raise ValueError(f"inputs must be one of {INPUT_KINDS}, got {inputs!r}")
        mean = np.asarray(data["mean"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        coef = np.asarray(data["coef"], dtype=np.float64)
        if not (mean.shape == scale.shape == coef.shape) or mean.ndim != 1:
            raise ValueError("mean, scale and coef must be vectors of one length")
        if np.any(scale <= 0):
            raise ValueError("scale must be positive")
        decision = (data.get("decision_a"), data.get("decision_b"))
        if (decision[0] is None) != (decision[1] is None):
            raise ValueError("decision_a and decision_b come together")
        if decision[0] is not None and float(decision[0]) * float(data.get("platt_a", 1.0)) <= 0:
            raise ValueError("the decision map must rank windows as the calibration map does")
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            inputs=inputs,
            mean=mean,
            scale=scale,
            coef=coef,
            intercept=float(data["intercept"]),
            platt_a=float(data.get("platt_a", 1.0)),
            platt_b=float(data.get("platt_b", 0.0)),
            correction_bound=float(data.get("correction_bound", 0.0)),
            decision_a=_optional_float(data.get("decision_a")),
            decision_b=_optional_float(data.get("decision_b")),
        )

    @classmethod
    def load(cls, path: Path) -> LogisticHead:
        """Load a head file; any problem becomes a :class:`ModelLoadError` naming the file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except FileNotFoundError as exc:
            raise ModelLoadError(
                f"model head {path} is missing; reinstall streamchill or rebuild it with "
                "models/tools/train_heads.py"
            ) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"model head {path} is unreadable or corrupt: {exc}") from exc

    def _inputs(
        self, tags: np.ndarray, embeddings: np.ndarray, mtt_tags: np.ndarray | None
    ) -> np.ndarray:
        if self.inputs == "embedding":
            x = embeddings
        elif self.inputs in ("tags", "msd_prior+tags"):
            x = tags
        elif self.inputs == "msd_mtt_prior+tags":
            if mtt_tags is None:
                raise ModelLoadError(
                    f"head {self.name!r} judges on MSD and MTT tags but the backbone gives no "
                    "MTT tags; it needs the student backbone (or an older head file)"
                )
            x = np.concatenate([tags, np.atleast_2d(mtt_tags)], axis=-1)
        else:
            x = np.concatenate([embeddings, tags], axis=-1)
        if x.shape[-1] != len(self.coef):
            raise ModelLoadError(
                f"head {self.name!r} expects {len(self.coef)} inputs but the backbone gives "
                f"{x.shape[-1]}; the head and the backbone model do not belong together"
            )
        return x

    def patch_logits(
        self, tags: np.ndarray, embeddings: np.ndarray, mtt_tags: np.ndarray | None = None
    ) -> np.ndarray:
        """One uncalibrated logit per patch: [N, 50] MSD tags, [N, 200] -> [N].

        ``mtt_tags`` ([N, 50] MagnaTagATune tags, from the student backbone) is read by
        ``msd_mtt_prior+tags`` (which fails without them); the other kinds ignore it."""
        x = self._inputs(np.atleast_2d(tags), np.atleast_2d(embeddings), mtt_tags)
        x = x.astype(np.float64)
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        if self.inputs not in PRIOR_KINDS:
            return z
        bound = self.correction_bound
        correction = bound * np.tanh(z / bound) if bound > 0 else np.zeros_like(z)
        if self.inputs == "msd_prior+tags":
            return tag_prior_logit(x) + correction
        return msd_mtt_prior_logit(x[:, :50], x[:, 50:]) + correction

    def calibrated_logit(self, logit: float) -> float:
        """The Platt-calibrated logit of a raw (patch or window-mean) logit."""
        return self.platt_a * logit + self.platt_b

    def decision_logit(self, logit: float) -> float:
        """The logit on the decision map's scale of a raw (patch or window-mean) logit."""
        a = self.platt_a if self.decision_a is None else self.decision_a
        b = self.platt_b if self.decision_b is None else self.decision_b
        return a * logit + b

    def window_probability(self, logits: np.ndarray) -> float:
        """Calibrated probability for a window whose patches gave ``logits`` (0.5 if empty):
        what events and verdicts publish."""
        if len(logits) == 0:
            return 0.5
        return _sigmoid(self.calibrated_logit(float(np.mean(logits))))

    def decision_probability(self, logits: np.ndarray) -> float:
        """The window's probability on the decision map (0.5 if empty): what the state
        thresholds and the change deltas compare, whatever the published calibration."""
        if len(logits) == 0:
            return 0.5
        return _sigmoid(self.decision_logit(float(np.mean(logits))))


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0))))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
