"""The zero-shot baseline: a fixed mapping of musicnn's MSD tags to calm and aggressive.

Kept as the yardstick the trained head is measured against in the model card: it ranks
extremes well but is uncalibrated and misses hard electronic music tagged ``electronic``.
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
