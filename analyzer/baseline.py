"""The prior: a fixed mapping of musicnn's MSD tags to calm and aggressive, never trained.

It is the backbone of the calm judgement (``analyzer.heads``: the prior's logit plus an
optional bounded correction, then a calibration fitted on sources set aside from training)
and the bar every trained head is measured against in the model card. Untrained, it ranks
music from unseen sources better than heads trained on the devset did; alone it is
uncalibrated (hence the calibration).
"""

from __future__ import annotations

import numpy as np

MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip
"""The 50 MSD tags in the network's output order (musicnn/configuration.py)."""

CALM_TAGS = (
    "beautiful", "chillout", "Mellow", "chill", "ambient", "acoustic", "easy listening",
    "sad", "folk", "instrumental", "jazz",
)  # fmt: skip
AGGRESSIVE_TAGS = (
    "rock", "metal", "hard rock", "heavy metal", "punk", "alternative rock", "dance",
    "electro", "House", "party",
)  # fmt: skip

_CALM_IDX = np.array([MSD_TAGS.index(t) for t in CALM_TAGS])
_AGGR_IDX = np.array([MSD_TAGS.index(t) for t in AGGRESSIVE_TAGS])


def tag_ratio_calm(tags: np.ndarray) -> np.ndarray:
    """Per-patch calm score in [0, 1]: calm tag mass over calm + aggressive tag mass."""
    tags = np.atleast_2d(tags)
    calm = tags[:, _CALM_IDX].sum(axis=1)
    aggr = tags[:, _AGGR_IDX].sum(axis=1)
    return calm / np.maximum(calm + aggr, 1e-9)


_EPS = 0.01
"""Tag mass (sum of sigmoid outputs) added to both sides, so that a patch with almost no
calm-like and no aggressive-like tag lands near logit 0 (unsure) instead of at an extreme."""


def tag_prior_logit(tags: np.ndarray) -> np.ndarray:
    """Per-patch prior logit: log of calm tag mass over aggressive tag mass ([N, 50] -> [N])."""
    tags = np.atleast_2d(np.asarray(tags, dtype=np.float64))
    calm = tags[:, _CALM_IDX].sum(axis=1)
    aggr = tags[:, _AGGR_IDX].sum(axis=1)
    return np.log(calm + _EPS) - np.log(aggr + _EPS)
