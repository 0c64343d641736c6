"""Analyse whole files and URLs: decode, stream through a session, summarise.

Used by ``streamchill analyze`` and by the daemon's one-shot HTTP endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodEvent
from streamchill.analyzer.models_bundle import ModelBundle
from streamchill.analyzer.session import Session
from streamchill.analyzer.summary import summarize
from streamchill.streamer.sources.decode import DecodedAudio, decode_file
from streamchill.streamer.sources.url import download_audio, is_remote

BLOCK_S = 0.1
"""Blocks handed to the session: small enough to pace playback smoothly."""

EventSink = Callable[[MoodEvent], None]
ProgressSink = Callable[[float, float], None]


@dataclass(frozen=True)
class AnalysisResult:
    source: str
    verdict: dict[str, Any]
    events: list[MoodEvent]


def load_source(source: str, workdir: Path | None = None) -> DecodedAudio:
    """Decode a local path, or fetch and decode a URL / YouTube id."""
    path = download_audio(source, workdir) if is_remote(source) else Path(source)
    return decode_file(path)


def analyze_source(source: str, **options: Any) -> AnalysisResult:
    """Decode (or fetch) ``source`` and analyse it; options as for :func:`analyze_audio`."""
    return analyze_audio(source, load_source(source), **options)


def analyze_audio(
    name: str,
    audio: DecodedAudio,
    *,
    config: AnalyzerConfig | None = None,
    realtime: bool = False,
    on_event: EventSink | None = None,
    on_progress: ProgressSink | None = None,
    models: ModelBundle | None = None,
) -> AnalysisResult:
    """Stream ``audio`` through a fresh session (paced like playback if ``realtime``)."""
    session = Session(
        name,
        sample_rate_hz=audio.sample_rate_hz,
        channels=audio.channels,
        config=config,
        models=models,
        keep_history=True,
    )
    events: list[MoodEvent] = []

    def take(new: list[MoodEvent]) -> None:
        for event in new:
            events.append(event)
            if on_event is not None:
                on_event(event)

    started = time.monotonic()
    fed_s = 0.0
    for block in audio.blocks(BLOCK_S):
        take(session.feed(block))
        fed_s += len(block) / audio.sample_rate_hz
        if on_progress is not None:
            on_progress(fed_s, audio.duration_s)
        if realtime:
            ahead = fed_s - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    take(session.finish())
    assert session.history is not None
    verdict = summarize(
        events,
        session.history,
        session.models.calm,
        duration_s=audio.duration_s,
        silence_db=session.config.silence_db,
    )
    return AnalysisResult(source=name, verdict=verdict, events=events)
