"""The state machine that turns per-hop probabilities into a state that does not flicker.

Two mechanisms keep it steady: separate enter/exit thresholds (a state is entered at a
stricter value than it is left), and a minimum dwell (a new state must be wanted for
``min_dwell_s`` of media time). Both yield when the analyzer reports a change of music:
then the evidence is new and the state may follow at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodState


@dataclass(frozen=True, slots=True)
class Observation:
    """What one hop measured, before hysteresis."""

    media_time_s: float
    calm_probability: float
    speech_probability: float
    silent: bool
    steady: bool
    """A steady tone, hum or noise: not music, never calm."""
    has_patch: bool
    """At least one patch has been judged (else we cannot say anything yet)."""
    fresh_segment: bool
    """The music changed and this hop is the first judgement of the new part."""


class MoodStateMachine:
    """Hysteresis over :class:`Observation` values; see the module docstring."""

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self.state = MoodState.WARMING_UP
        self._candidate: MoodState | None = None
        self._candidate_since_s = 0.0

    def wanted(self, obs: Observation) -> MoodState:
        """The state this hop's evidence asks for, given the current state (thresholds only)."""
        c = self.config
        if obs.silent:
            return MoodState.SILENCE
        if not obs.has_patch:
            return MoodState.WARMING_UP
        if obs.steady:
            return MoodState.NEUTRAL
        speech_threshold = c.speech_exit if self.state is MoodState.SPEECH else c.speech_enter
        if obs.speech_probability >= speech_threshold:
            return MoodState.SPEECH
        p = obs.calm_probability
        if self.state is MoodState.CALM and p >= c.calm_exit:
            return MoodState.CALM
        if self.state is MoodState.AGGRESSIVE and p <= c.aggressive_exit:
            return MoodState.AGGRESSIVE
        if p >= c.calm_enter:
            return MoodState.CALM
        if p <= c.aggressive_enter:
            return MoodState.AGGRESSIVE
        return MoodState.NEUTRAL

    def update(self, obs: Observation) -> MoodState:
        """Advance by one hop and return the (possibly unchanged) state."""
        want = self.wanted(obs)
        if want is self.state:
            self._candidate = None
            return self.state
        immediate = (
            obs.fresh_segment
            or want is MoodState.SILENCE
            or self.state in (MoodState.WARMING_UP, MoodState.SILENCE)
        )
        if want is not self._candidate:
            self._candidate = want
            self._candidate_since_s = obs.media_time_s
        if immediate or obs.media_time_s - self._candidate_since_s >= self.config.min_dwell_s:
            self.state = want
            self._candidate = None
        return self.state
