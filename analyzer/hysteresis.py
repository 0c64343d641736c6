"""The state machine that turns per-hop probabilities into a state that does not flicker.

Four rules keep it steady without making it slow:

* **Thresholds with hysteresis that grows with confidence.** A state is entered at a
  stricter value than it is left, and the gap widens as the segment gathers patches: a
  piece judged calm on ten patches does not drop to ``neutral`` because its mean wobbles,
  while a young segment can still be left at the plain exit threshold.
* **A minimum dwell**: a new state must be wanted for ``min_dwell_s`` of media time.
  Waived when the analyzer confirms a change of music (two patches say the evidence is
  new: a piece that opens in the neutral band is followed there too); waived when the audio
  falls silent or turns into a steady tone, and when it leaves silence or a tone.
* **Speech is decided on patches, with hysteresis of its own.** The head's window
  probability saturates on some music, so the state reads the segment's newest patches'
  calibrated speech logits. From music that was judged music, ``speech`` needs
  ``speech_confirm_patches`` patches in a row that sound like speech (one patch of a sung or
  shouted passage is not a talk show); after a pause, at the start or at a change of music
  one such patch will do, or that many in a row that merely *could* be speech (after a
  pause, could be speech by the weaker rule that holds speech). Speech is
  left, at once, when that many patches in a row could not be speech: the music after a
  talk is followed as soon as it is judged, not when the 30 s mean finally falls. A voice
  the head never heard may score lower: a patch the head is unsure of sounds like speech
  (and could be speech) when its audio pauses as speech does (``speech_cues.py``); the more
  it pauses, the lower the logit that will do (``cue_passes``), and such a patch decides
  over the window probability, which a voice scored near 0 keeps low.
* **After a pause, wait for a judgement of the new audio.** Leaving silence or a steady
  tone, the state holds until a patch of what follows has been judged, rather than
  showing the evidence from before the pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodState

if TYPE_CHECKING:
    from streamchill.analyzer.heads import LogisticHead
    from streamchill.analyzer.segments import PatchResult

MUSIC_STATES = (MoodState.CALM, MoodState.AGGRESSIVE, MoodState.NEUTRAL)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one hop measured, before hysteresis."""

    media_time_s: float
    calm_probability: float
    """On the calm head's decision map (``LogisticHead.decision_probability``), the scale
    the thresholds were measured on, not the published (possibly flatter) calibration."""
    speech_probability: float
    silent: bool
    steady: bool
    """A steady tone, hum or noise: not music, never calm."""
    has_patch: bool
    """At least one patch has been judged (else we cannot say anything yet)."""
    fresh_segment: bool
    """The music changed and this hop is the first judgement of the new part."""
    speech_logits: tuple[float, ...] | None = None
    """Calibrated speech logits of the segment's newest voting patches, oldest first (a
    few are enough). ``None``: no per-patch evidence, the window probability alone
    decides (the naive reference)."""
    speech_pauses: tuple[float, ...] | None = None
    """Pause shares (``speech_cues.pause_share``) of the same patches; ``None``: not
    measured, the logits alone decide."""
    segment_patches: int = 1
    """Patches the window probabilities rest on (the segment's evidence)."""
    stale: bool = False
    """No patch of the audio since the last silent or steady hop has been judged yet."""
    new_patches: int = 1
    """How many of those newest patches were judged since the last hop: two may complete
    between hops (a split's second patch comes half a hop after the first), and a run that
    sounds like speech must not go unseen because a later patch ended in the same hop."""


def cue_passes(config: AnalyzerConfig, logit: float, pauses: float | None) -> bool:
    """The speech cue: a patch the head is unsure of pauses as speech does.

    A corner (``speech_cue_logit`` and ``speech_cue_pauses`` both reached) or, beyond it, a
    line in the logit / pause-share plane: the logit a patch needs falls by
    ``speech_cue_slope`` per unit of pause share from ``speech_cue_line_logit`` at
    ``speech_cue_pauses``, never below ``speech_cue_floor_logit``."""
    if pauses is None:
        return False
    if logit >= config.speech_cue_logit and pauses >= config.speech_cue_pauses:
        return True
    if config.speech_cue_slope <= 0 or logit < config.speech_cue_floor_logit:
        return False
    above = pauses - config.speech_cue_pauses
    return logit >= config.speech_cue_line_logit - config.speech_cue_slope * above


def run_cue_passes(config: AnalyzerConfig, run: list[tuple[float, float | None]]) -> bool:
    """The speech cue on a run of patches (``speech_cue_run``): their mean calibrated logit
    and mean pause share pass :func:`cue_passes`. A voice steady over the run passes where
    one staccato music patch and a quieter one beside it do not."""
    if not config.speech_cue_run or not run or any(p is None for _, p in run):
        return False
    logits = [logit for logit, _ in run]
    pauses = [p for _, p in run if p is not None]
    return cue_passes(config, sum(logits) / len(run), sum(pauses) / len(run))


def cue_holds(config: AnalyzerConfig, logit: float, pauses: float | None) -> bool:
    """The cue, or the less it asks to hold speech already entered (``speech_cue_hold_*``)."""
    return cue_passes(config, logit, pauses) or (
        pauses is not None
        and logit >= config.speech_cue_hold_logit
        and pauses >= config.speech_cue_hold_pauses
    )


def could_be_speech(
    config: AnalyzerConfig, logit: float, pauses: float | None, *, holding: bool = False
) -> bool:
    """One patch could be speech: a calibrated speech logit music stays below
    (``speech_hold_logit``), or one the head is unsure of with the pauses of speech (less of
    both will do to hold speech already entered: ``speech_cue_hold_*``)."""
    if logit >= config.speech_hold_logit:
        return True
    return (cue_holds if holding else cue_passes)(config, logit, pauses)


def sounds_like_speech(config: AnalyzerConfig, logit: float, pauses: float | None) -> bool:
    """One patch sounds like speech: a calibrated speech logit the devset's voices reach
    (``speech_patch_logit``), or one the head is unsure of with the pauses of speech."""
    return logit >= config.speech_patch_logit or cue_passes(config, logit, pauses)


def patch_could_be_speech(
    config: AnalyzerConfig, speech_head: LogisticHead, patch: PatchResult
) -> bool:
    """:func:`could_be_speech` of a judged patch (its raw speech logit calibrated)."""
    logit = speech_head.calibrated_logit(patch.speech_logit)
    return could_be_speech(config, logit, patch.speech_pauses)


class MoodStateMachine:
    """Hysteresis over :class:`Observation` values; see the module docstring."""

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self.state = MoodState.WARMING_UP
        self._quiet = False
        """The state was chosen because the audio was silent or a steady tone."""
        self._candidate: MoodState | None = None
        self._candidate_since_s = 0.0
        self._music_judged = False
        """Since the last pause or speech, a patch of this music did not sound like speech."""
        self._maybe_voice_since_pause = False
        """Every patch since the last pause could be speech by the holding rule."""

    @property
    def settled(self) -> bool:
        """A mood held on judged music (not speech, whose end the patches decide, nor a
        pause, a tone or the warm-up)."""
        return self.state in MUSIC_STATES and not self._quiet

    def widening(self, segment_patches: int) -> float:
        """How far beyond its exit threshold a held state may drift, for this much evidence."""
        c = self.config
        span = max(1, c.confident_after_patches - 1)
        return c.confident_widening * min(1.0, max(0, segment_patches - 1) / span)

    def wanted(self, obs: Observation) -> MoodState:
        """The state this hop's evidence asks for, given the current state (thresholds only)."""
        c = self.config
        if obs.silent:
            return MoodState.SILENCE
        if not obs.has_patch:
            return MoodState.WARMING_UP
        if obs.steady:
            return MoodState.NEUTRAL
        speech = self._speech_wanted(obs)
        if speech is not None:
            return MoodState.SPEECH if speech else self._mood(obs)
        if self.state is MoodState.SPEECH:
            if obs.speech_probability >= c.speech_exit:
                return MoodState.SPEECH
        elif obs.speech_probability >= c.speech_enter and obs.speech_logits is None:
            return MoodState.SPEECH
        return self._mood(obs)

    def sounds_like_speech(self, logit: float, pauses: float | None) -> bool:
        """:func:`sounds_like_speech` under this machine's config."""
        return sounds_like_speech(self.config, logit, pauses)

    def could_be_speech(self, logit: float, pauses: float | None) -> bool:
        """:func:`could_be_speech` under this machine's config."""
        return could_be_speech(self.config, logit, pauses)

    def _speech_wanted(self, obs: Observation) -> bool | None:
        """The patch rule: True (speech), False (not speech) or None (undecided by it)."""
        c = self.config
        logits = obs.speech_logits
        if logits is None:
            return None
        pauses = obs.speech_pauses or (None,) * len(logits)
        patches = list(zip(logits, pauses, strict=True))
        need = c.speech_confirm_patches
        newest = patches[-need:] if len(patches) >= need else []
        run = run_cue_passes(c, newest)
        # Entering: a run ending at any patch judged since the last hop will do.
        ends = range(max(need, len(patches) - max(1, obs.new_patches) + 1), len(patches) + 1)
        runs = [patches[end - need : end] for end in ends]
        run_any = any(run_cue_passes(c, r) for r in runs)
        if self.state is MoodState.SPEECH:
            # A confirmed change of audio is judged afresh, not on the talk's hold levels.
            holding = not (c.speech_new_segment_enters and obs.fresh_segment)
            if newest and not any(could_be_speech(c, *p, holding=holding) for p in newest):
                return False  # that many patches in a row could not be speech
            if c.speech_cue_over_window and (run or cue_holds(c, *patches[-1])):
                return True  # a voice the head scores low keeps the window low
            return obs.speech_probability >= c.speech_exit
        if not patches or (
            obs.speech_probability < c.speech_enter
            and not (c.speech_cue_over_window and (run_any or cue_passes(c, *patches[-1])))
        ):
            return False
        if run_any or any(all(self.sounds_like_speech(*p) for p in r) for r in runs):
            return True
        if (
            self._maybe_voice_since_pause
            and newest
            and all(could_be_speech(c, *p, holding=True) for p in newest)
        ):
            return True  # after a pause, a voice the head is unsure of from its first patch
        if self.state in MUSIC_STATES and not self._quiet and self._music_judged:
            return False
        # After a pause, at the start, or in music not yet judged as music.
        return self.sounds_like_speech(*patches[-1]) or bool(
            newest and all(self.could_be_speech(*p) for p in newest)
        )

    def _mood(self, obs: Observation) -> MoodState:
        """Calm, aggressive or neutral from the calm probability, with widening hysteresis."""
        c = self.config
        p = obs.calm_probability
        widen = self.widening(obs.segment_patches)
        if self.state is MoodState.CALM and p >= c.calm_exit - widen:
            return MoodState.CALM
        if self.state is MoodState.AGGRESSIVE and p <= c.aggressive_exit + widen:
            return MoodState.AGGRESSIVE
        if p >= c.calm_enter:
            return MoodState.CALM
        if p <= c.aggressive_enter:
            return MoodState.AGGRESSIVE
        return MoodState.NEUTRAL

    def update(self, obs: Observation) -> MoodState:
        """Advance by one hop and return the (possibly unchanged) state."""
        if self._quiet and obs.stale and not (obs.silent or obs.steady):
            return self.state  # the pause is over; wait for a judgement of what follows
        quiet_now = obs.silent or obs.steady
        self._note_music(obs, quiet_now)
        want = self.wanted(obs)
        if want is self.state:
            self._candidate = None
            self._quiet = quiet_now
            return self.state
        # New music (a change confirmed by two patches) waives the dwell, into any state
        # other than a mood barely past its bar.
        fresh = obs.fresh_segment and self._clear_of_bands(want, obs.calm_probability)
        # Speech entered or left on its run of patches: the run was the dwell.
        by_patches = obs.speech_logits is not None and MoodState.SPEECH in (want, self.state)
        immediate = (
            fresh or by_patches or quiet_now or self._quiet or self.state is MoodState.WARMING_UP
        )
        if want is not self._candidate:
            self._candidate = want
            self._candidate_since_s = obs.media_time_s
        if immediate or obs.media_time_s - self._candidate_since_s >= self.config.min_dwell_s:
            self.state = want
            self._quiet = quiet_now
            self._candidate = None
        return self.state

    def _clear_of_bands(self, want: MoodState, p: float) -> bool:
        """Is a mood wanted by a new segment clear of its band's bars by
        ``fresh_mood_margin`` (calm above ``calm_enter``, aggressive below
        ``aggressive_enter``, neutral inside both)? Only then may it skip the dwell: two
        overlapping patches just past a bar are as often a passage as a new piece."""
        c = self.config
        m = c.fresh_mood_margin
        if m <= 0 or want not in MUSIC_STATES:
            return True
        if want is MoodState.CALM:
            return p >= c.calm_enter + m
        if want is MoodState.AGGRESSIVE:
            return p <= c.aggressive_enter - m
        return c.aggressive_enter + m < p < c.calm_enter - m

    def _note_music(self, obs: Observation, quiet_now: bool) -> None:
        """Remember whether the music now playing has been judged music by a patch.

        Forgotten at a pause, in speech and at a change of music: the new music has not
        been heard to be music yet.
        """
        if quiet_now or self.state is MoodState.SPEECH or obs.fresh_segment:
            self._music_judged = False
        if quiet_now or self.state is MoodState.SPEECH:
            self._maybe_voice_since_pause = quiet_now
            return
        if obs.speech_logits:
            pauses = obs.speech_pauses[-1] if obs.speech_pauses else None
            if not self.could_be_speech(obs.speech_logits[-1], pauses):
                self._music_judged = True
            if not could_be_speech(self.config, obs.speech_logits[-1], pauses, holding=True):
                self._maybe_voice_since_pause = False
