"""The student/teacher cascade: its policy on made-up judgements, then real sessions on the
shipped examples with the real student and teacher (issue 15)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from streamchill.analyzer.cascade import Cascade, Route, in_doubt
from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodEvent
from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.mel import PATCH_FRAMES
from streamchill.analyzer.models_bundle import shared_models
from streamchill.analyzer.segments import PatchResult, SegmentTracker
from streamchill.analyzer.session import Session

MUSIC = -30.0
"""A student calibrated speech logit far below any maybe-speech threshold."""


def policy(**kw: float) -> Cascade:
    args: dict = dict(
        audit_every=4, fallback_patches=3, maybe_speech_logit=-4.0, calm_tolerance=2.5,
        speech_logit=15.0, probation_patches=2,
    )  # fmt: skip
    return Cascade(**(args | kw))


def routes(cascade: Cascade, n: int, speech: float = MUSIC) -> list[Route]:
    return [cascade.route(speech) for _ in range(n)]


def test_probation_then_every_nth_student_patch_is_audited() -> None:
    c = policy()
    got = routes(c, 12)
    S, A = Route.STUDENT, Route.AUDIT
    assert got == [A, A, S, S, S, A, S, S, S, A, S, S]
    assert c.counts.audits == 4 and c.counts.student == 8 and c.counts.teacher == 4


def test_audit_every_1_means_the_teacher_judges_everything() -> None:
    c = policy(audit_every=1, probation_patches=0)
    assert set(routes(c, 20)) == {Route.AUDIT}


def test_maybe_speech_patches_go_to_the_teacher_and_do_not_count_as_audits() -> None:
    c = policy(probation_patches=0)
    assert routes(c, 3) == [Route.STUDENT] * 3
    assert c.route(-4.0) is Route.MAYBE_SPEECH  # the threshold itself could be speech
    assert c.route(25.0) is Route.MAYBE_SPEECH
    assert c.route(MUSIC) is Route.AUDIT  # the schedule counts student-alone patches only
    assert c.counts.maybe_speech == 2 and c.counts.audits == 1


def test_a_disagreeing_audit_starts_a_fallback_then_audits_resume_at_once() -> None:
    c = policy(probation_patches=1)
    assert c.route(MUSIC) is Route.AUDIT
    assert c.audited(calm_delta=-2.6, teacher_speech_logit=-20.0)
    assert c.in_fallback
    assert routes(c, 3) == [Route.FALLBACK] * 3
    assert not c.in_fallback
    assert c.route(MUSIC) is Route.AUDIT  # first student patch after the fallback
    assert not c.audited(calm_delta=2.4, teacher_speech_logit=-20.0)
    assert routes(c, 4) == [Route.STUDENT] * 3 + [Route.AUDIT]
    n = c.counts
    assert (n.disagreements, n.fallbacks, n.fallback_patches) == (1, 1, 3)


def test_the_teacher_hearing_possible_speech_is_a_disagreement() -> None:
    c = policy()
    c.route(MUSIC)
    assert c.audited(calm_delta=0.0, teacher_speech_logit=15.0)
    assert c.route(MUSIC) is Route.FALLBACK


def test_close_calls_go_to_the_teacher() -> None:
    c = policy(probation_patches=0)
    assert c.route(MUSIC, doubt=Route.CHANGE) is Route.CHANGE
    assert c.route(MUSIC, doubt=Route.CLOSE_CALL) is Route.CLOSE_CALL
    assert c.route(MUSIC) is Route.STUDENT
    assert (c.counts.change, c.counts.close_call, c.counts.teacher) == (1, 1, 2)


def test_the_policy_is_a_function_of_the_patch_sequence() -> None:
    rng = np.random.default_rng(3)
    speech = rng.normal(-10, 8, 200)
    delta = rng.normal(0, 1.5, 200)

    def run() -> list[Route]:
        c, out = policy(), []
        for s, d in zip(speech, delta, strict=True):
            r = c.route(float(s))
            if r is Route.AUDIT:
                c.audited(calm_delta=float(d), teacher_speech_logit=-20.0)
            out.append(r)
        return out

    first = run()
    assert first == run()
    assert Route.FALLBACK in first and Route.MAYBE_SPEECH in first


@pytest.mark.parametrize("kw", [{"audit_every": 0}, {"calm_tolerance": 0.0}])
def test_bad_settings_are_refused(kw: dict) -> None:
    with pytest.raises(ValueError):
        policy(**kw)


def patch(start: int, calm: float) -> PatchResult:
    return PatchResult(start, calm, -20.0, np.zeros(50, np.float32), level_db=-20.0)


def calm_only(ps: object) -> tuple[float, float]:
    """Calm probability = sigmoid(mean calm logit); speech left out."""
    z = float(np.mean([p.calm_logit for p in ps]))  # type: ignore[attr-defined]
    return 1 / (1 + np.exp(-z)), 0.0


def tracker() -> SegmentTracker:
    return SegmentTracker(judge=calm_only, window_frames=1875, max_patches=14,
                          silence_db=-55.0, confirm_delta=0.25, patch_change_delta=0.7)  # fmt: skip


def doubt_of(t: SegmentTracker, probe: PatchResult) -> object:
    return in_doubt(t, probe, calm_only, change_margin=0.1, calm_margin=0.05,
                    calm_thresholds=(0.4, 0.5, 0.6))  # fmt: skip


def test_a_change_in_doubt_near_the_tolerance_of_a_proposed_change() -> None:
    t = tracker()
    for k in range(3):
        t.add(patch(k * PATCH_FRAMES, 3.0))  # calm evidence: p = 0.95
    doubt = doubt_of(t, patch(3 * PATCH_FRAMES, 0.0))
    assert doubt(3.0, -20.0) is None  # same music, no change proposed: far from the 0.7 bar
    t.propose_change(3 * PATCH_FRAMES)
    assert doubt(1.3, -20.0) is Route.CHANGE  # p 0.79: 0.16 from the old 0.95, near 0.25
    assert doubt(-3.0, -20.0) is None  # p 0.05: clearly a change
    assert doubt(3.0, -20.0) is None  # clearly not
    quiet = replace(patch(3 * PATCH_FRAMES, 0.0), level_db=-80.0)
    assert doubt_of(t, quiet)(1.3, -20.0) is None  # silence decides nothing


def test_a_close_call_near_a_state_threshold() -> None:
    t = tracker()
    t.add(patch(0, 0.3))
    doubt = doubt_of(t, patch(PATCH_FRAMES, 0.0))
    assert doubt(0.0, -20.0) is Route.CLOSE_CALL  # window mean logit 0.15: p 0.537
    assert doubt(0.3, -20.0) is Route.CLOSE_CALL  # 0.3: p 0.574, near calm_enter 0.6
    assert doubt(1.1, -20.0) is None  # 0.7: p 0.668, clear of every threshold
    assert doubt(-2.0, -20.0) is None  # -0.85: p 0.30


def test_every_patch_while_the_state_is_speech_goes_to_the_teacher() -> None:
    """The music after a talk sets the next state; the student misjudged its first patches."""
    t = tracker()
    t.add(patch(0, 3.0))
    probe = patch(PATCH_FRAMES, 0.0)
    speaking = in_doubt(t, probe, calm_only, change_margin=0.1, calm_margin=0.05,
                        calm_thresholds=(0.4, 0.5, 0.6), in_speech=True)  # fmt: skip
    assert speaking(3.0, -20.0) is Route.CHANGE  # clear music by the student's judgement
    assert doubt_of(t, probe)(3.0, -20.0) is None  # the same patch outside speech


def test_streams_that_start_together_audit_at_different_patches() -> None:
    config = AnalyzerConfig(teacher_probation_patches=0)
    first_audit = set()
    for k in range(20):
        c = Cascade.from_config(config, stream=f"tab-{k}")
        got = routes(c, config.teacher_audit_patches)
        assert got[0] is Route.STUDENT  # the first estimate never waits for musicnn
        assert got.count(Route.AUDIT) == 1  # one audit within the first audit period
        first_audit.add(got.index(Route.AUDIT))
    assert len(first_audit) >= 5


# ---------------------------------------------------------------- real sessions


class Run:
    """A session fed ``x`` in ``chunk``-sample blocks, and the events it made."""

    def __init__(self, x: np.ndarray, config: AnalyzerConfig, chunk: int = 16_000) -> None:
        s = Session("test", sample_rate_hz=16_000, config=config, keep_history=True)
        self.events: list[MoodEvent] = []
        for i in range(0, len(x), chunk):
            self.events += s.feed(x[i : i + chunk])
        self.events += s.finish()
        self.session = s
        self.counts = s.cascade_counts
        self.history = s.history or []


def analyse(x: np.ndarray, config: AnalyzerConfig, chunk: int = 16_000) -> Run:
    return Run(x, config, chunk)


def states(run: Run) -> list[tuple[float, str]]:
    return [(e.media_time_s, e.state.value) for e in run.events]


TEACHER_ONLY = AnalyzerConfig(teacher_audit_patches=1)


def test_the_cascade_keeps_the_teachers_states_on_the_shipped_examples(
    examples_16k: dict,
) -> None:
    calm, aggr, speech = examples_16k["calm"], examples_16k["aggressive"], examples_16k["speech"]
    x = np.concatenate([calm, aggr, speech, calm, calm, aggr])
    cascade, teacher = analyse(x, AnalyzerConfig()), analyse(x, TEACHER_ONLY)
    assert states(cascade) == states(teacher)
    n = cascade.counts
    assert n.student > n.teacher / 2, n  # most music patches never reach the teacher
    assert n.maybe_speech > 0 and n.fallbacks == 0, n
    assert teacher.counts.student == 0


def test_speech_is_judged_by_the_teacher(examples_16k: dict) -> None:
    s = analyse(examples_16k["speech"], AnalyzerConfig(teacher_probation_patches=0))
    n = s.counts
    assert n.student == 0 and n.maybe_speech == n.teacher > 0, n
    assert states(s)[-1][1] == "speech"


def test_the_cascade_does_not_depend_on_the_chunking(examples_16k: dict) -> None:
    x = np.concatenate([examples_16k["calm"], examples_16k["aggressive"], examples_16k["calm"]])
    whole, odd = analyse(x, AnalyzerConfig(), chunk=len(x)), analyse(x, AnalyzerConfig(), 5_923)
    assert whole.counts == odd.counts
    assert states(whole) == states(odd)
    assert [p.calm_logit for p in whole.history] == pytest.approx(
        [p.calm_logit for p in odd.history], abs=1e-4
    )


class MttSpy(LogisticHead):
    """The shipped calm head, recording the MTT tags it is handed (a spy, not a mock: the
    logits are the real head's)."""

    seen: list[np.ndarray | None]

    def patch_logits(
        self, tags: np.ndarray, embeddings: np.ndarray, mtt_tags: np.ndarray | None = None
    ) -> np.ndarray:
        self.seen.append(mtt_tags)
        return super().patch_logits(tags, embeddings, mtt_tags=mtt_tags)


def test_the_session_hands_the_students_mtt_tags_to_the_calm_head(examples_16k: dict) -> None:
    base = shared_models()
    spy = MttSpy(**{f: getattr(base.calm, f) for f in base.calm.__dataclass_fields__})
    spy.seen = []
    s = Session("t", sample_rate_hz=16_000, models=replace(base, calm=spy), keep_history=True)
    s.feed(examples_16k["calm"][: 16_000 * 7])
    assert s.history and spy.seen and all(m is not None for m in spy.seen)
    frames = s._frames_at(s.history[0].start_frame)  # the first patch, judged again
    _, _, mtt = base.student.predict(frames[np.newaxis])
    np.testing.assert_allclose(spy.seen[0], mtt, atol=1e-6)
