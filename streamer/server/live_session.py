"""What the daemon's streams analyse with: the session protocol and the real session."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np

from streamchill.analyzer.audio import SampleFormat
from streamchill.analyzer.events import MoodEvent


class SessionLike(Protocol):
    """What a stream needs of the analyzer's ``Session`` (fakes welcome in tests).

    A session may also offer ``feed_each(block)``, an iterator of the same events made
    one hop at a time; the stream then publishes each as soon as it is made; and
    ``cascade_counts`` (which backbone judged its patches), added up on ``/v1/stats``.
    """

    def feed(self, block: bytes | np.ndarray) -> list[MoodEvent]: ...
    def finish(self) -> list[MoodEvent]: ...


SessionFactory = Callable[[str, int, int, SampleFormat], SessionLike]
"""(stream, sample_rate_hz, channels, sample_format) -> a fresh session."""


def analyzer_session(
    stream: str,
    sample_rate_hz: int,
    channels: int,
    sample_format: SampleFormat,
    *,
    teacher_wait: Callable[[], AbstractContextManager[object]] | None = None,
) -> SessionLike:
    """The real session (imported lazily: it loads essentia and LiteRT). ``teacher_wait``
    wraps its musicnn calls (the daemon's :meth:`.pool.AnalysisPool.waiting`)."""
    from dataclasses import replace

    from streamchill.analyzer.models_bundle import shared_models
    from streamchill.analyzer.session import Session

    models = shared_models()
    if teacher_wait is not None:
        models = replace(models, teacher_wait=teacher_wait)
    return Session(
        stream,
        sample_rate_hz=sample_rate_hz,
        channels=channels,
        sample_format=sample_format,
        models=models,
    )
