"""The backbones and their heads, loaded once per process and shared by every session."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.model import (
    MODEL_VERSION,
    MusicnnTagger,
    StudentTagger,
    shared_student,
    shared_tagger,
)
from streamchill.analyzer.model_files import model_path


@dataclass(frozen=True)
class ModelBundle:
    """What a session needs to judge a patch: both backbones and the calm and speech heads.

    ``tagger`` is the musicnn teacher, ``student`` the distilled network that sees every
    patch; ``speech`` reads the teacher's outputs, ``speech_student`` the student's (on the
    same calibrated scale); ``calm`` reads whichever MSD tags judged the patch plus the
    student's MTT tags.
    """

    tagger: MusicnnTagger
    student: StudentTagger
    calm: LogisticHead
    speech: LogisticHead

    @property
    def version(self) -> str:
        return f"{MODEL_VERSION}+calm-{self.calm.version}+speech-{self.speech.version}"

    @classmethod
    def load(
        cls, tagger: MusicnnTagger | None = None, student: StudentTagger | None = None
    ) -> ModelBundle:
        return cls(
            tagger=tagger or shared_tagger(),
            student=student or shared_student(),
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


_per_thread = threading.local()


def thread_models() -> ModelBundle:
    """A bundle with this thread's own interpreters, for batch work in parallel threads.

    The shared interpreters run one patch at a time behind a lock; ``analyze --jobs N``
    gives each worker thread its own (~0.1 s to load, a few MB), so N files use N cores.
    """
    bundle: ModelBundle | None = getattr(_per_thread, "bundle", None)
    if bundle is None:
        bundle = ModelBundle.load(tagger=MusicnnTagger.load(), student=StudentTagger.load())
        _per_thread.bundle = bundle
    return bundle
