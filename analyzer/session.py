"""One stream's analysis: audio blocks of any size in, one :class:`MoodEvent` per hop out.

Work is incremental. Every hop computes only the new mel frames, the tempo curve's new
values and the level of the new audio; a 3 s patch goes through the CNN only when a new
one is complete (every ``patch_interval_s``; only every ``settled_patch_stride``-th while a
mood is settled and nothing changes), and DFA danceability is refreshed every
``danceability_interval_s``. The CNN's window score aggregates the patch logits of the
current *segment*: when the mel frames show a change of music and the first two patches
after it (the second judged half a hop after the first) both judge it differently, the
patches from before the change stop counting, so the state follows a new track within
about one patch (3 s) plus two hops, not the 15 s a plain 30 s average needs; when they
do not, the piece keeps its evidence (``segments.py``). The per-30 s features keep their
full window.

Audio is processed in pieces that end exactly on hop boundaries, so the events do not
depend on how the caller chunked the stream.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from streamchill.analyzer.audio import TARGET_RATE_HZ, SampleFormat
from streamchill.analyzer.cascade import Cascade, CascadeCounts
from streamchill.analyzer.change_points import cut_in_patch, proposed_change, talk_end_cut
from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.danceability import DanceabilityMeter
from streamchill.analyzer.edge import AudioEdge, HeldSamples, Piece
from streamchill.analyzer.errors import AudioFormatError
from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures, calm_is_judged
from streamchill.analyzer.features import (
    HopPowerMeter,
    TempoTracker,
    level_db,
    loudness_features,
)
from streamchill.analyzer.hysteresis import MoodStateMachine, Observation, patch_could_be_speech
from streamchill.analyzer.mel import FRAMES_PER_S, HOP_SIZE, N_MELS, PATCH_FRAMES, MelFrameStream
from streamchill.analyzer.models_bundle import ModelBundle, shared_models
from streamchill.analyzer.patch_schedule import PatchSchedule, may_wait, worth_judging
from streamchill.analyzer.pauses import PauseWatch
from streamchill.analyzer.ring import Ring
from streamchill.analyzer.segments import PatchResult, SegmentTracker
from streamchill.analyzer.signal_checks import steady_kind
from streamchill.analyzer.speech_cues import pause_share

TOP_TAGS = 3
TEMPO_EVERY_HOPS = 2
"""The tempo autocorrelation spans 12 s; refreshing it every other hop loses nothing."""


def judge_group(models: ModelBundle, patches: Sequence[PatchResult]) -> tuple[float, float]:
    """(calm, speech) window probabilities of a group of patches, on the decision map (the
    scale the change deltas and close-call margins were measured on; ``heads.py``)."""
    calm = models.calm.decision_probability(np.array([p.calm_logit for p in patches]))
    speech = models.speech.window_probability(np.array([p.speech_logit for p in patches]))
    return calm, speech


class Session:
    """Analysis state of one stream. Not thread-safe: feed it from one thread at a time."""

    def __init__(
        self,
        stream: str,
        *,
        sample_rate_hz: int,
        channels: int = 1,
        sample_format: SampleFormat | str = SampleFormat.F32LE,
        config: AnalyzerConfig | None = None,
        models: ModelBundle | None = None,
        keep_history: bool = False,
    ) -> None:
        self.config = config or AnalyzerConfig()
        c = self.config
        self._hop_samples = round(c.hop_s * TARGET_RATE_HZ)
        self._edge = AudioEdge(
            sample_rate_hz=sample_rate_hz,
            channels=channels,
            sample_format=sample_format,
            hop_samples=self._hop_samples,
            stream=stream,
        )
        self.stream = stream
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self._models = models or shared_models()
        self._mel = MelFrameStream()
        self._held = HeldSamples()
        self._power_meter = HopPowerMeter()
        self._tempo = TempoTracker()
        window_frames = round(c.window_s * FRAMES_PER_S)
        self._window_frames = window_frames
        # Bounded by the window: 30 s of mel (720 kB), hop powers, DFA block sums (250 kB).
        self._mel_ring = Ring(window_frames + PATCH_FRAMES, (N_MELS,))
        self._power_ring = Ring(window_frames, (), dtype="float64")
        # One hop more than the window: danceability reads the window ending at a patch's
        # end, which may lie up to a hop before the newest sample.
        self._dance_meter = DanceabilityMeter(c.window_s + c.hop_s)
        # Not a bound method: a session must not be in a reference cycle, or its ~2 MB
        # of rings would wait for the garbage collector instead of going when it ends.
        self._judge_group = functools.partial(judge_group, self._models)
        self._segments = SegmentTracker(
            judge=self._judge_group,
            window_frames=window_frames,
            max_patches=int(c.window_s / c.patch_interval_s) + 4,
            silence_db=c.silence_db,
            confirm_delta=c.change_confirm_delta,
            patch_change_delta=c.patch_change_delta,
            speech_like=functools.partial(patch_could_be_speech, c, self._models.speech),
            second_patch_frames=max(1, round(c.second_patch_after_s * FRAMES_PER_S)),
            drift_delta=c.drift_delta,
            drift_confirm_frames=max(1, round(c.drift_confirm_after_s * FRAMES_PER_S)),
            look_in_talk=c.drift_looks_in_talk,
        )
        self._schedule = PatchSchedule(c)
        self._last_voting_end = 0
        """Mel frame where the newest voting (audible, not steady) patch ends."""
        self._pauses = PauseWatch(c)
        self._machine = MoodStateMachine(c)
        self._cascade = Cascade.from_config(c, stream=stream)
        self._danceability = 0.0
        self._danceability_at_s = -1e9
        self._seq = 0
        self._hop_new_segment = False
        self._hop_judged = 0
        self._bpm = 0.0
        self._finished = False
        self.last_event: MoodEvent | None = None
        self.history: list[PatchResult] | None = [] if keep_history else None
        """Every patch judged, for batch summaries (only when ``keep_history``)."""

    # ------------------------------------------------------------------ input

    @property
    def media_time_s(self) -> float:
        """Seconds of (16 kHz) audio analysed so far."""
        return self._edge.media_time_s

    @property
    def state(self) -> MoodState:
        return self._machine.state

    @property
    def cascade_counts(self) -> CascadeCounts:
        """Which backbone judged this stream's patches so far (``analyzer/cascade.py``)."""
        return self._cascade.counts

    @property
    def models(self) -> ModelBundle:
        """The backbone and heads this session judges with."""
        return self._models

    def feed(self, block: bytes | np.ndarray) -> list[MoodEvent]:
        """Add audio; return the events of every hop this audio completed.

        ``bytes`` are decoded in the declared sample format (a partial frame waits for
        the next block); arrays are float32/int16 shaped [frames] or [frames, channels].
        """
        return list(self.feed_each(block))

    def feed_each(self, block: bytes | np.ndarray) -> Iterator[MoodEvent]:
        """Like :meth:`feed`, but yields each hop's event as soon as that hop is done.

        The rest of the block (a patch that completes after the hop, the next hops of a
        backlog) is analysed only when the next event is asked for, so a caller that
        publishes each event as it comes never makes one wait for later audio's work.
        Consume it fully before feeding again; the events are those :meth:`feed` returns.
        """
        if self._finished:
            raise AudioFormatError(f"stream {self.stream!r} was already finished")
        return self._consume(self._edge.feed(block))

    def finish(self) -> list[MoodEvent]:
        """End of stream: drain the resampler and the last frames, emit the final event."""
        if self._finished:
            return []
        self._finished = True
        events = list(self._consume(self._edge.finish()))
        self._analyse_held()
        tail = self._mel.flush()
        self._accept_frames(tail)
        last_time = self.last_event.media_time_s if self.last_event else -1.0
        if self.media_time_s > last_time:  # audio arrived since the last event
            event = self._hop()
            if event is not None:
                events.append(event)
        return events

    def _consume(self, pieces: Iterable[Piece]) -> Iterator[MoodEvent]:
        for piece in pieces:  # held until a hop ends or a due patch completes (HeldSamples)
            self._held.add(piece.samples)
            due = self._schedule.due_by(self._mel.frames_after(len(self._held)))
            if piece.ends_hop or due:
                self._analyse_held()
            if piece.ends_hop:
                event = self._hop()
                if event is not None:
                    yield event

    def _analyse_held(self) -> None:
        samples = self._held.take()
        self._dance_meter.push(samples)
        self._power_ring.push(self._power_meter.push(samples))
        self._accept_frames(self._mel.push(samples))

    def _accept_frames(self, frames: np.ndarray) -> None:
        if len(frames):
            self._mel_ring.push(frames)
            self._tempo.push(frames)
            # Judge a patch as soon as its frames are complete, not at the next hop: the
            # CNN's ~24 ms then lands between hops and the hop's event is not kept waiting.
            self._judge_pending()

    def _judge_pending(self) -> None:
        new_segment, judged = self._judge_due_patches()
        self._hop_new_segment |= new_segment
        self._hop_judged += judged

    # ------------------------------------------------------------------ per hop

    def _hop(self) -> MoodEvent | None:
        c = self.config
        self._detect_change()
        self._judge_pending()  # a re-aligned patch may be complete already
        new_segment, judged = self._hop_new_segment, self._hop_judged
        self._hop_new_segment, self._hop_judged = False, 0
        # A young segment waives the dwell, but not for a split its second patch may undo.
        fresh = self._segments.hop(new_segment=new_segment, judged=judged)
        fresh = fresh and (new_segment or not self._segments.awaiting_second)
        if not self._segments.has_patches and self.last_event is None:
            return None  # nothing to say before the first patch
        silent, steady_kind = self._pauses.check(
            self._mel_ring, self._power_ring, settled=self._machine.settled
        )
        steady = steady_kind is not None
        seg = self._segments.current(self._mel_ring.total)
        bundle = self._models
        calm_logits = np.array([p.calm_logit for p in seg])
        speech_logits = np.array([p.speech_logit for p in seg])
        calm_p = bundle.calm.window_probability(calm_logits)  # published
        calm_decision = bundle.calm.decision_probability(calm_logits)  # what the state reads
        speech_p = bundle.speech.window_probability(speech_logits) if len(seg) else 0.0
        restart = self._pauses.note(silent or steady, self._mel_ring.total)
        if restart is not None:
            self._segments.restart_after(restart)
        newest_logits, newest_pauses = self._segments.speech_evidence(seg, bundle.speech)
        obs = Observation(
            media_time_s=self.media_time_s,
            calm_probability=calm_decision,
            speech_probability=speech_p,
            silent=silent,
            steady=steady,
            has_patch=bool(seg),
            fresh_segment=fresh,
            speech_logits=newest_logits,
            speech_pauses=newest_pauses,
            # Judged since the pause: a voting patch holds at least half a patch of it.
            stale=self._last_voting_end - PATCH_FRAMES // 2 < self._pauses.quiet_until,
            segment_patches=len(seg),
            new_patches=min(judged, len(newest_logits)),
        )
        previous = self._machine.state
        state = self._machine.update(obs)
        reason = None
        if state is MoodState.NEUTRAL and steady:
            reason = steady_kind
        elif new_segment:
            reason = "music_change"
        seg_start_s = seg[0].start_s if seg else self.media_time_s
        window_start_s = max(seg_start_s, self.media_time_s - c.window_s, 0.0)
        event = MoodEvent(
            stream=self.stream,
            seq=self._seq,
            media_time_s=self.media_time_s,
            window_start_s=window_start_s,
            window_end_s=self.media_time_s,
            state=state,
            changed=self.last_event is not None and state is not previous,
            warming_up=state is MoodState.WARMING_UP or self.media_time_s < c.settled_after_s,
            calm_probability=calm_p if calm_is_judged(state, reason) else None,
            speech_probability=speech_p,
            features=self._features(),
            top_tags=self._top_tags(seg),
            reason=reason,
            model_version=bundle.version,
        )
        self._seq += 1
        self.last_event = event
        return event

    def _judge_due_patches(self) -> tuple[bool, int]:
        """Run the CNN on every complete patch that is due, one at a time.

        One at a time because a judgement can move the grid: a tentative change of music
        asks for its second patch half a hop after the first (``patch_schedule.py``).
        Returns (a new segment began, patches judged).
        """
        began, judged = False, 0
        while (due := self._schedule.take_due(self._mel_ring.total)) is not None:
            start, skipped = due
            if skipped:  # the stride skipped it: judged after all if the student says so
                frames = self._frames_at(start)
                look = self._models.peek(frames, self._probe(start, frames))
                if worth_judging(self.config, self._segments, self._models.speech, look):
                    self._schedule.realign(start)
                continue
            began |= self._judge_patch(start)
            judged += 1
            follow_up = self._segments.follow_up_frames
            if follow_up is None and self._machine.state is MoodState.SPEECH:
                logits, _ = self._segments.speech_evidence(
                    self._segments.current(start + PATCH_FRAMES), self._models.speech
                )
                follow_up = talk_end_cut(self._mel_ring, self._segments, start, self.config, logits)
            wait = follow_up is None and may_wait(
                self.config, self._machine, self._segments, self._models.speech,
                start + PATCH_FRAMES,
            )  # fmt: skip
            self._schedule.judged(start, follow_up=follow_up, may_wait=wait)
        return began, judged

    def _judge_patch(self, start: int) -> bool:
        """Judge the patch starting at mel frame ``start``; return whether a segment began."""
        frames = self._frames_at(start)
        probe = self._probe(start, frames)
        in_speech = self._machine.state is MoodState.SPEECH
        doubt = self._cascade.doubt(self._segments, probe, self._judge_group, in_speech=in_speech)
        result = self._models.judge(frames, probe, self._cascade, doubt)
        began = self._segments.add(result)
        c, segments = self.config, self._segments
        if segments.unplaced_split and c.place_own_splits:
            segments.place_split(start + cut_in_patch(self._mel_ring, segments, start, c))
        if segments.voting(result):
            self._last_voting_end = start + PATCH_FRAMES
        if self.history is not None:
            self.history.append(result)
        self._refresh_danceability(start + PATCH_FRAMES)
        return began

    def _probe(self, start: int, frames: np.ndarray) -> PatchResult:
        """The patch at mel frame ``start`` (its ``frames``) before any network judged it:
        place, level, steadiness and pause share."""
        power = self._power_ring.since(start)[:PATCH_FRAMES]
        return PatchResult(
            start_frame=start,
            calm_logit=0.0,
            speech_logit=0.0,
            tags=np.zeros(0, np.float32),
            level_db=float(level_db(float(power.mean()) if len(power) else 0.0)),
            steady=steady_kind(frames, self.config) is not None,
            speech_pauses=pause_share(frames),
        )

    def _refresh_danceability(self, end_frame: int) -> None:
        """DFA danceability of the window ending where the newest patch ends.

        It runs here, beside the CNN and half a hop away from hop boundaries, rather than
        on a hop, so that it never delays an event; reading the window up to the patch's
        end keeps the value independent of how the audio was chunked.
        """
        c = self.config
        # At the end of a stream the mel front end's padded frames end past the audio.
        end_sample = min(end_frame * HOP_SIZE, self._dance_meter.samples)
        if (end_sample / TARGET_RATE_HZ) - self._danceability_at_s < c.danceability_interval_s:
            return
        start = max(0, end_sample - int(c.window_s * TARGET_RATE_HZ))
        self._danceability = self._dance_meter.value(start, end_sample)
        self._danceability_at_s = end_sample / TARGET_RATE_HZ

    def _frames_at(self, start_frame: int) -> np.ndarray:
        frames = self._mel_ring.since(start_frame)[:PATCH_FRAMES]
        return np.ascontiguousarray(frames, dtype=np.float32)

    def _detect_change(self) -> None:
        """Novelty: propose a change of music and re-align the patch grid on it."""
        change = proposed_change(self._mel_ring, self._segments, self.config)
        if change is not None:
            self._segments.propose_change(change)
            self._schedule.realign(change)

    def _features(self) -> WindowFeatures:
        dev, loud = loudness_features(self._power_ring.last(self._window_frames))
        if self._seq % TEMPO_EVERY_HOPS == 0:
            self._bpm = self._tempo.bpm()
        return WindowFeatures(
            danceability=self._danceability,
            bpm=self._bpm,
            avg_db_deviation=dev,
            loudness_db=loud,
        )

    def _top_tags(self, seg: list[PatchResult]) -> tuple[tuple[str, float], ...]:
        if not seg:
            return ()
        mean = np.mean([p.tags for p in seg], axis=0)
        names = self._models.tagger.tag_names
        order = np.argsort(mean)[::-1][:TOP_TAGS]
        return tuple((names[i], float(mean[i])) for i in order)


__all__ = ["HOP_SIZE", "PatchResult", "Session"]
