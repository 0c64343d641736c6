"""Which backbone judges a patch: the cheap student, or the musicnn teacher as well.

The student (``models/student_msd_mtt.tflite``) judges every patch for ~0.25 ms. It learned
from the devset's game music and speech only, so on anything else (sung vocals, pop, a voice
nobody recorded here) nobody has measured it. The teacher (~50 ms a patch) therefore
re-judges a patch, and its judgement is the one used, when

* the student's calibrated speech logit says the patch *could be* speech (``maybe_speech``):
  the student never decides speech on its own;
* the student's judgement is a *close call*, where its looser copy of the teacher could tip
  a decision the other way: the patch decides a change of music (``segments.py``) and lies
  near that decision's tolerance (``CHANGE``; so is any patch while the state is speech:
  the music after a talk), or it leaves the window's calm probability
  near one of the state thresholds (``CLOSE_CALL``);
* the patch is an *audit*: each of the stream's first ``probation_patches`` (a new stream
  may be anything, and its opening sets its first state), then every ``audit_every``-th
  patch the student would judge alone, the first after a fallback included;
* the stream is in *fallback*: an audit found the two disagreeing (calm patch logits further
  apart than ``calm_tolerance``, or the teacher hearing possible speech where the student
  heard none), so the teacher judges the next ``fallback_patches`` patches of that stream.

The policy is pure bookkeeping (no audio, no model): it sees the same sequence of patches
whatever the chunking, so the events stay independent of it. :class:`CascadeCounts` says
what it did, per stream.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.mel import PATCH_FRAMES
from streamchill.analyzer.segments import Judge, PatchResult, SegmentTracker


class Route(enum.Enum):
    """Who judges one patch, and why."""

    STUDENT = "student"
    AUDIT = "audit"
    MAYBE_SPEECH = "maybe_speech"
    CHANGE = "change"
    CLOSE_CALL = "close_call"
    FALLBACK = "fallback"

    @property
    def teacher(self) -> bool:
        """Does the teacher run (and its judgement count) for this patch?"""
        return self is not Route.STUDENT


@dataclass
class CascadeCounts:
    """Per-stream tallies, in patches (``fallbacks``: times a fallback began)."""

    student: int = 0
    """Patches judged by the student alone."""
    teacher: int = 0
    """Patches the teacher judged (audits, maybe speech, close calls, fallback patches)."""
    audits: int = 0
    maybe_speech: int = 0
    change: int = 0
    """Patches deciding a change of music on which the student's judgement was in doubt."""
    close_call: int = 0
    """Patches that left the window's calm probability near a state threshold."""
    fallback_patches: int = 0
    disagreements: int = 0
    """Audits whose two judgements differed beyond the tolerance."""
    fallbacks: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Cascade:
    """The student/teacher policy of one stream. Call :meth:`route` for every patch in
    order and, when it returns :attr:`Route.AUDIT`, :meth:`audited` with both judgements."""

    def __init__(
        self,
        *,
        audit_every: int,
        fallback_patches: int,
        maybe_speech_logit: float,
        calm_tolerance: float,
        speech_logit: float,
        probation_patches: int = 0,
        change_margin: float = 0.0,
        calm_margin: float = 0.0,
        calm_thresholds: tuple[float, ...] = (),
        audit_phase: int = 0,
    ) -> None:
        """``audit_phase``: student-alone patches counted as already seen before the
        first periodic audit (0 to ``audit_every - 1``): streams that start together audit
        at different patches instead of all at once. ``maybe_speech_logit``: a student
        calibrated speech logit at or above it sends the patch to the teacher.
        ``speech_logit``: a teacher calibrated speech logit at or above it on an audited
        patch is a disagreement (the student had not even said maybe)."""
        if audit_every < 1 or fallback_patches < 0 or probation_patches < 0:
            raise ValueError("audit_every must be >= 1, fallback and probation patches >= 0")
        if calm_tolerance <= 0:
            raise ValueError("calm_tolerance must be > 0 (logits)")
        if not 0 <= audit_phase < audit_every:
            raise ValueError("audit_phase must be in [0, audit_every)")
        self.audit_every = audit_every
        self.fallback_patches = fallback_patches
        self.maybe_speech_logit = maybe_speech_logit
        self.calm_tolerance = calm_tolerance
        self.speech_logit = speech_logit
        self.change_margin = change_margin
        self.calm_margin = calm_margin
        self.calm_thresholds = calm_thresholds
        self.counts = CascadeCounts()
        self._probation_left = probation_patches
        self._fallback_left = 0
        self._alone_since_audit = audit_phase

    @property
    def in_fallback(self) -> bool:
        return self._fallback_left > 0

    @classmethod
    def from_config(cls, config: AnalyzerConfig, *, stream: str = "") -> Cascade:
        """The policy with the shipped settings (``AnalyzerConfig``'s ``teacher_*``,
        ``student_maybe_speech_logit``, ``cascade_calm_tolerance``, ``speech_hold_logit``).

        The first periodic audit of ``stream`` comes at its 2nd to ``audit_every``-th
        student-alone patch, by a hash of its name: never on the first patch (the first
        estimate stays the student's ~0.3 ms), and not on the same patch for every stream
        that started together (50 streams auditing their first patches at once queued
        2.4 s of musicnn work; hop-to-subscriber p99 2,058 ms in the daemon benchmark)."""
        every = config.teacher_audit_patches
        phase = zlib.crc32(stream.encode()) % (every - 1) if every > 1 else 0
        return cls(
            audit_phase=phase,
            audit_every=config.teacher_audit_patches,
            fallback_patches=config.teacher_fallback_patches,
            maybe_speech_logit=config.student_maybe_speech_logit,
            calm_tolerance=config.cascade_calm_tolerance,
            speech_logit=config.speech_hold_logit,
            probation_patches=config.teacher_probation_patches,
            change_margin=config.change_doubt,
            calm_margin=config.calm_doubt,
            calm_thresholds=config.calm_thresholds,
        )

    def doubt(
        self, segments: SegmentTracker, probe: PatchResult, judge: Judge, *, in_speech: bool
    ) -> Doubt:
        """:func:`in_doubt` with this policy's margins, for the patch ``probe``."""
        return in_doubt(
            segments,
            probe,
            judge,
            in_speech=in_speech,
            change_margin=self.change_margin,
            calm_margin=self.calm_margin,
            calm_thresholds=self.calm_thresholds,
        )

    def route(self, student_speech_logit: float, *, doubt: Route | None = None) -> Route:
        """Who judges the next patch, given the student's calibrated speech logit for it and
        whether its judgement is a close call (``Route.CHANGE`` or ``Route.CLOSE_CALL``)."""
        c = self.counts
        probation, self._probation_left = self._probation_left > 0, max(0, self._probation_left - 1)
        if self._fallback_left > 0:
            self._fallback_left -= 1
            if self._fallback_left == 0:
                # Audits resume with the very next patch the student would judge alone.
                self._alone_since_audit = self.audit_every - 1
            c.teacher += 1
            c.fallback_patches += 1
            return Route.FALLBACK
        if student_speech_logit >= self.maybe_speech_logit:
            c.teacher += 1
            c.maybe_speech += 1
            return Route.MAYBE_SPEECH
        if doubt is Route.CHANGE or doubt is Route.CLOSE_CALL:
            c.teacher += 1
            if doubt is Route.CHANGE:
                c.change += 1
            else:
                c.close_call += 1
            return doubt
        if probation or self._alone_since_audit >= self.audit_every - 1:
            self._alone_since_audit = 0
            c.teacher += 1
            c.audits += 1
            return Route.AUDIT
        self._alone_since_audit += 1
        c.student += 1
        return Route.STUDENT

    def disagree(self, *, calm_delta: float, teacher_speech_logit: float) -> bool:
        """Do an audited patch's two judgements differ beyond the tolerances?"""
        return abs(calm_delta) > self.calm_tolerance or teacher_speech_logit >= self.speech_logit

    def audited(self, *, calm_delta: float, teacher_speech_logit: float) -> bool:
        """Record an audit: ``calm_delta`` is the teacher's calm patch logit minus the
        student's, ``teacher_speech_logit`` the teacher's calibrated speech logit. On a
        disagreement the fallback begins with the next patch; returns whether it did."""
        if not self.disagree(calm_delta=calm_delta, teacher_speech_logit=teacher_speech_logit):
            return False
        self.counts.disagreements += 1
        if self.fallback_patches > 0:
            self.counts.fallbacks += 1
            self._fallback_left = self.fallback_patches
        return True


Doubt = Callable[[float, float], "Route | None"]
"""(student calm logit, speech logit of a patch) -> the close call it makes, if any."""


def in_doubt(
    segments: SegmentTracker,
    probe: PatchResult,
    judge: Judge,
    *,
    change_margin: float,
    calm_margin: float,
    calm_thresholds: tuple[float, ...],
    in_speech: bool = False,
) -> Doubt:
    """The close calls of the patch ``probe`` (its place, level and steadiness; the logits
    come from the student): ``CHANGE`` when a change of music hangs on it and its judgement
    lies within ``change_margin`` (probability) of that decision's tolerance; ``CLOSE_CALL``
    when it votes and leaves its segment's window calm probability (``judge``) within
    ``calm_margin`` of one of ``calm_thresholds``."""

    def doubt(calm_logit: float, speech_logit: float) -> Route | None:
        if in_speech:
            # The state is speech and the student hears none: the music that follows a talk
            # sets the next state, and the student misjudged it (the transitions benchmark's
            # speech -> calm took 9.4 s at p90, its first patch judged 0.30 calm by the
            # student and 0.79 by musicnn). Few patches: the talk's own went to musicnn.
            return Route.CHANGE
        judged = replace(probe, calm_logit=calm_logit, speech_logit=speech_logit)
        found = segments.decision(judged)
        if found is not None and abs(found[0] - found[1]) < change_margin:
            return Route.CHANGE
        if not segments.voting(judged):
            return None
        end = probe.start_frame + PATCH_FRAMES
        window = [p for p in segments.current(end) if segments.voting(p)]
        calm, _ = judge([*window, judged])
        if min(abs(calm - t) for t in calm_thresholds) < calm_margin:
            return Route.CLOSE_CALL
        return None

    return doubt
