"""The one place the analyzer finds its shipped model files.

The files live in the ``streamchill.models`` package (the repo's ``models/`` folder), which
holds data only; they are located through :mod:`importlib.resources`, so an installed
wheel and a checkout behave alike, and no analyzer code imports from ``models/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

MODEL_PACKAGE = "streamchill.models"


def model_path(name: str) -> Path:
    """Filesystem path of a shipped model file (it may not exist; callers check and explain)."""
    return Path(str(resources.files(MODEL_PACKAGE).joinpath(name)))
