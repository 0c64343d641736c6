"""Lazy, quiet access to essentia: importing it costs ~0.1 s and ~117 MB, so only analysis pays."""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def essentia_standard() -> ModuleType:
    """Import ``essentia.standard`` once, with its INFO chatter switched off."""
    import essentia

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    import essentia.standard as es

    return es
