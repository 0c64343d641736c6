"""The priors: fixed mappings of musicnn's tags to calm and aggressive, never trained.

Two taggers, two mappings: the MSD tags (last.fm genres and moods) and the MagnaTagATune
(MTT) tags (tempo, loudness, instruments). Their mean is the backbone of the calm judgement
(``analyzer.heads``, ``msd_mtt_prior+tags``: the mean prior logit plus an optional bounded
correction, then a calibration fitted out of source) and the bar every trained head is
measured against in the model card. Untrained, they rank music from unseen sources better
than heads trained on the devset did, and they err in different places (MSD calls combat
electronica calm, MTT calls some calm synth loud), so their mean beat either alone on music
from sources outside the repo; alone they are uncalibrated (hence the calibration).
"""

from __future__ import annotations

import functools
import json

import numpy as np

from streamchill.analyzer.errors import ModelLoadError
from streamchill.analyzer.model_files import model_path

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


MTT_TAGS_FILE = "mtt_tags.json"
"""The 50 MTT tag names in the student's (and MTT musicnn's) output order, shipped in models/."""

MTT_CALM_TAGS = ("slow", "ambient", "quiet", "soft", "new age")
MTT_AGGRESSIVE_TAGS = ("fast", "loud", "metal", "rock", "techno", "drums")
"""The fixed MTT mapping, chosen before any MTT tag was looked at on labelled music (issue 14)."""


@functools.cache
def mtt_tag_names() -> tuple[str, ...]:
    """The shipped MTT tag list (read once); the mapping's tags must all be in it."""
    path = model_path(MTT_TAGS_FILE)
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the MTT tag names {path}: {exc}") from exc
    if not (isinstance(names, list) and len(names) == 50):
        raise ModelLoadError(f"{path} must hold a list of 50 MTT tag names")
    missing = set(MTT_CALM_TAGS + MTT_AGGRESSIVE_TAGS) - set(names)
    if missing:
        raise ModelLoadError(f"{path} lacks the MTT prior's tags {sorted(missing)}")
    return tuple(str(n) for n in names)


def mtt_prior_logit(mtt: np.ndarray) -> np.ndarray:
    """Per-patch MTT prior logit: log of calm over aggressive MTT tag mass ([N, 50] -> [N])."""
    names = mtt_tag_names()
    mtt = np.atleast_2d(np.asarray(mtt, dtype=np.float64))
    calm = mtt[:, [names.index(t) for t in MTT_CALM_TAGS]].sum(axis=1)
    aggr = mtt[:, [names.index(t) for t in MTT_AGGRESSIVE_TAGS]].sum(axis=1)
    return np.log(calm + _EPS) - np.log(aggr + _EPS)


def msd_mtt_prior_logit(tags: np.ndarray, mtt: np.ndarray) -> np.ndarray:
    """The judgement's prior: the mean of the MSD and MTT prior logits ([N, 50] x2 -> [N])."""
    return 0.5 * (tag_prior_logit(tags) + mtt_prior_logit(mtt))
