"""The backbone and its heads, loaded once per process and shared by every session."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from analyzer.heads import LogisticHead
from analyzer.model import MODEL_VERSION, MusicnnTagger, shared_tagger
from models import model_path


@dataclass(frozen=True)
class ModelBundle:
    """What a session needs to judge a patch: the tagger and the calm and speech heads."""

    tagger: MusicnnTagger
    calm: LogisticHead
    speech: LogisticHead

    @property
    def version(self) -> str:
        return f"{MODEL_VERSION}+calm-{self.calm.version}+speech-{self.speech.version}"

    @classmethod
    def load(cls) -> ModelBundle:
        return cls(
            tagger=shared_tagger(),
            calm=LogisticHead.load(model_path("calm_head.json")),
            speech=LogisticHead.load(model_path("speech_head.json")),
        )


_lock = threading.Lock()
_shared: ModelBundle | None = None


def shared_models() -> ModelBundle:
    """The process-wide bundle, loaded lazily on first use (thread-safe)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = ModelBundle.load()
        return _shared
