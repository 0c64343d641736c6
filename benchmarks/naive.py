"""The naive baseline: an analyzer that recomputes the whole 30 s window every hop.

:class:`NaiveSession` has the surface of :class:`streamchill.analyzer.session.Session` (``feed`` and
``finish`` returning :class:`~streamchill.analyzer.events.MoodEvent` lists, one event per
1 s hop from
the first complete patch on) and uses the same building blocks, but keeps no analysis
state between hops except the raw audio of the window. Every hop it computes, from
scratch: the log-mel frames of the whole window, every 3 s patch through the CNN (about
10 once the window is full), the calm and speech heads, danceability (DFA) on the whole
window, the tempo of the whole window, and the loudness features. That is what a
non-incremental design costs; the benchmarks print every figure next to it.

The edge (PCM decoding, the streaming resampler) is shared with the real session: it is
not what the benchmark compares, and sharing it keeps the hop grid identical, so the two
sessions emit events at the same media times.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from streamchill.analyzer.audio import TARGET_RATE_HZ, SampleFormat
from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.edge import AudioEdge, Piece
from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures
from streamchill.analyzer.features import (
    HopPowerMeter,
    TempoTracker,
    danceability,
    level_db,
    loudness_features,
)
from streamchill.analyzer.hysteresis import MoodStateMachine, Observation
from streamchill.analyzer.mel import FRAMES_PER_S, PATCH_FRAMES, mel_frames, patches
from streamchill.analyzer.models_bundle import ModelBundle, shared_models
from streamchill.analyzer.ring import Ring

TOP_TAGS = 3


class NaiveSession:
    """One stream, analysed the non-incremental way (see the module docstring)."""

    def __init__(
        self,
        stream: str,
        *,
        sample_rate_hz: int,
        channels: int = 1,
        sample_format: SampleFormat | str = SampleFormat.F32LE,
        config: AnalyzerConfig | None = None,
        models: ModelBundle | None = None,
        analyze_from_s: float = 0.0,
    ) -> None:
        """``analyze_from_s``: hops before this media time (s) only store audio and emit
        nothing, so a benchmark can fill the window without paying for the warm-up."""
        self.stream = stream
        self.channels = channels
        self.config = config or AnalyzerConfig()
        self.analyze_from_s = analyze_from_s
        self._models = models or shared_models()
        self._hop_samples = round(self.config.hop_s * TARGET_RATE_HZ)
        # The shipped audio edge: both analyzers emit events at the same media times.
        self._edge = AudioEdge(
            sample_rate_hz=sample_rate_hz,
            channels=channels,
            sample_format=sample_format,
            hop_samples=self._hop_samples,
            stream=stream,
        )
        # The only state kept between hops: the window's audio (30 s of float32, 1.9 MB).
        self._audio = Ring(int(self.config.window_s * TARGET_RATE_HZ))
        self._machine = MoodStateMachine(self.config)
        self._seq = 0
        self._finished = False
        self.last_event: MoodEvent | None = None

    @property
    def media_time_s(self) -> float:
        """Seconds of (16 kHz) audio analysed so far."""
        return self._edge.media_time_s

    def feed(self, block: bytes | np.ndarray) -> list[MoodEvent]:
        """Add audio (PCM bytes in the declared format, or a float32/int16 array)."""
        return self._consume(self._edge.feed(block))

    def finish(self) -> list[MoodEvent]:
        """End of stream: drain the resampler and judge the last partial hop."""
        if self._finished:
            return []
        self._finished = True
        events = self._consume(self._edge.finish())
        if self._edge.samples % self._hop_samples:  # a partial hop is left
            event = self._hop()
            if event is not None:
                events.append(event)
        return events

    def _consume(self, pieces: Iterable[Piece]) -> list[MoodEvent]:
        events: list[MoodEvent] = []
        for piece in pieces:
            self._audio.push(piece.samples)
            if piece.ends_hop:
                event = self._hop()
                if event is not None:
                    events.append(event)
        return events

    def _hop(self) -> MoodEvent | None:
        if self.media_time_s < self.analyze_from_s:
            return None
        c = self.config
        window = np.array(self._audio.last(len(self._audio)), dtype=np.float32)
        frames = mel_frames(window)  # every frame of the window, again
        batch = patches(frames)  # every 3 s patch of the window, again
        if len(batch) == 0:
            return None
        bundle = self._models
        tags, emb = bundle.tagger.predict(batch)
        # The calm judgement reads MTT tags too, which only the student gives.
        _, _, mtt = bundle.student.predict(batch)
        calm = bundle.calm.patch_logits(tags, emb, mtt_tags=mtt)
        speech = bundle.speech.patch_logits(tags, emb)
        hop_power = HopPowerMeter().push(window)
        levels = np.array(
            [
                float(level_db(float(hop_power[s : s + PATCH_FRAMES].mean())))
                for s in range(0, len(batch) * PATCH_FRAMES, PATCH_FRAMES)
            ]
        )
        audible = levels > c.silence_db
        if not audible.any():
            audible[-1] = True
        calm_p = bundle.calm.window_probability(calm[audible])
        calm_decision = bundle.calm.decision_probability(calm[audible])
        speech_p = bundle.speech.window_probability(speech[audible])
        recent = hop_power[-int(c.silence_span_s * FRAMES_PER_S) :]
        silent = float(level_db(float(recent.max()))) < c.silence_db
        tempo = TempoTracker()
        tempo.push(frames)
        dev, loud = loudness_features(hop_power)
        features = WindowFeatures(
            danceability=danceability(window),
            bpm=tempo.bpm(),
            avg_db_deviation=dev,
            loudness_db=loud,
        )
        previous = self._machine.state
        state = self._machine.update(
            Observation(
                media_time_s=self.media_time_s,
                calm_probability=calm_decision,
                speech_probability=speech_p,
                silent=silent,
                steady=False,
                has_patch=True,
                fresh_segment=False,
                segment_patches=int(audible.sum()),
            )
        )
        mean_tags = tags[audible].mean(axis=0)
        order = np.argsort(mean_tags)[::-1][:TOP_TAGS]
        event = MoodEvent(
            stream=self.stream,
            seq=self._seq,
            media_time_s=self.media_time_s,
            window_start_s=max(0.0, self.media_time_s - len(window) / TARGET_RATE_HZ),
            window_end_s=self.media_time_s,
            state=state,
            changed=self.last_event is not None and state is not previous,
            warming_up=state is MoodState.WARMING_UP or self.media_time_s < c.settled_after_s,
            calm_probability=calm_p,
            speech_probability=speech_p,
            features=features,
            top_tags=tuple((bundle.tagger.tag_names[i], float(mean_tags[i])) for i in order),
            model_version="naive+" + bundle.version,
        )
        self._seq += 1
        self.last_event = event
        return event
