"""The backbones and their heads, loaded once per process and shared by every session."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import numpy as np

from streamchill.analyzer.cascade import Cascade, Doubt, Route
from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.model import (
    MODEL_VERSION,
    STUDENT_VERSION,
    MusicnnTagger,
    StudentTagger,
    shared_student,
    shared_tagger,
)
from streamchill.analyzer.model_files import model_path
from streamchill.analyzer.segments import PatchResult


@dataclass(frozen=True)
class ModelBundle:
    """What a session needs to judge a patch: both backbones and the calm and speech heads.

    ``tagger`` is the musicnn teacher, ``student`` the distilled network that sees every
    patch. ``speech`` reads the teacher's outputs, ``speech_student`` the student's; a
    student-judged patch's logit is carried on ``speech``'s scale. ``calm`` reads the MSD tags
    of whichever backbone judged the patch, plus the student's MTT tags.
    """

    tagger: MusicnnTagger
    student: StudentTagger
    calm: LogisticHead
    speech: LogisticHead
    speech_student: LogisticHead
    teacher_wait: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext
    """Entered around each teacher call, which may wait for musicnn's lock (one patch at a
    time per process) and then runs ~60 ms. The daemon's analysis pool passes
    :meth:`~streamchill.streamer.server.pool.AnalysisPool.waiting`, so that a stream waiting
    on musicnn gives its turn to the other streams' hops."""

    @property
    def version(self) -> str:
        return (
            f"{MODEL_VERSION}+{STUDENT_VERSION}+calm-{self.calm.version}"
            f"+speech-{self.speech.version}+speech_student-{self.speech_student.version}"
        )

    def judge(
        self, frames: np.ndarray, probe: PatchResult, cascade: Cascade, doubt: Doubt
    ) -> PatchResult:
        """Judge one [187, 96] patch: the student always, the teacher when ``cascade`` asks
        (``doubt(calm_logit, speech_logit)`` names the close call the student's judgement
        makes, if any: ``cascade.in_doubt``). ``probe`` holds the patch's place, level and
        steadiness; the result adds the judgement: the MSD tags of the backbone that judged,
        the calm logit and the speech logit on the scale of ``speech`` (whose Platt
        calibration applies to every patch)."""
        x = frames[np.newaxis]
        student, mtt, s_speech = self._student(x, probe)
        route = cascade.route(s_speech, doubt=doubt(student.calm_logit, student.speech_logit))
        if not route.teacher:
            return student
        t_head = self.speech
        with self.teacher_wait():
            t_tags, t_emb = self.tagger.predict(x)
        t_calm = float(self.calm.patch_logits(t_tags, t_emb, mtt_tags=mtt)[0])
        t_speech = float(t_head.patch_logits(t_tags, t_emb)[0])
        if route is Route.AUDIT:
            cascade.audited(
                calm_delta=t_calm - student.calm_logit,
                teacher_speech_logit=t_head.calibrated_logit(t_speech),
            )
        return replace(probe, calm_logit=t_calm, speech_logit=t_speech, tags=t_tags[0])

    def peek(self, frames: np.ndarray, probe: PatchResult) -> PatchResult:
        """The student's judgement of one patch, nothing else run or counted (~0.3 ms): a
        look at a patch the settled stride would skip (``patch_schedule.worth_judging``)."""
        return self._student(frames[np.newaxis], probe)[0]

    def _student(self, x: np.ndarray, probe: PatchResult) -> tuple[PatchResult, np.ndarray, float]:
        """(the student's judgement, its MTT tags, its own calibrated speech logit)."""
        tags, emb, mtt = self.student.predict(x)
        s_head, t_head = self.speech_student, self.speech
        s_speech = s_head.calibrated_logit(float(s_head.patch_logits(tags, emb)[0]))
        # The calibrated logit on the teacher head's scale (the same logit when the two heads
        # share their calibration, as the shipped ones do).
        speech = (s_speech - t_head.platt_b) / t_head.platt_a
        calm = float(self.calm.patch_logits(tags, emb, mtt_tags=mtt)[0])
        judged = replace(probe, calm_logit=calm, speech_logit=speech, tags=tags[0])
        return judged, mtt, s_speech

    @classmethod
    def load(
        cls, tagger: MusicnnTagger | None = None, student: StudentTagger | None = None
    ) -> ModelBundle:
        return cls(
            tagger=tagger or shared_tagger(),
            student=student or shared_student(),
            calm=LogisticHead.load(model_path("calm_head.json")),
            speech=LogisticHead.load(model_path("speech_head.json")),
            speech_student=LogisticHead.load(model_path("speech_head_student.json")),
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
