"""Shipped model files, located through importlib.resources so they work from a wheel too."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def model_path(name: str) -> Path:
    """Filesystem path of a shipped model file (it may not exist; callers check and explain)."""
    return Path(str(resources.files(__name__).joinpath(name)))
