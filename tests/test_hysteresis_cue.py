"""The speech rule with the pause share: a patch the speech head is unsure of sounds like
speech when its audio pauses as speech does, and never on the pause share alone."""

from __future__ import annotations

from dataclasses import replace

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodState
from streamchill.analyzer.hysteresis import MoodStateMachine, Observation

UNSURE = 8.0
"""A calibrated speech logit an unseen voice gets, and ambient music too."""
MUSIC = -20.0
PAUSES = 0.5
"""The pause share of speech (devset median 0.51)."""
STEADY = 0.0


def obs(
    t: float, logits: tuple[float, ...], pauses: tuple[float, ...], **kw: object
) -> Observation:
    base: dict[str, object] = {
        "calm_probability": 0.9, "speech_probability": 0.99, "silent": False, "steady": False,
        "has_patch": True, "fresh_segment": False, "segment_patches": len(logits),
        "stale": False,
    }  # fmt: skip
    base.update(kw)
    return Observation(media_time_s=t, speech_logits=logits, speech_pauses=pauses, **base)  # type: ignore[arg-type]


def test_an_unsure_patch_that_pauses_like_speech_is_speech_at_the_start() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    assert m.update(obs(3.0, (UNSURE,), (PAUSES,))) is MoodState.SPEECH


def test_an_unsure_patch_without_pauses_is_not() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    assert m.update(obs(3.0, (UNSURE,), (STEADY,))) is MoodState.CALM


def test_pauses_alone_never_make_music_speech() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    assert m.update(obs(3.0, (MUSIC,), (0.9,), speech_probability=0.0)) is MoodState.CALM
    assert m.update(obs(4.0, (MUSIC, MUSIC), (0.9, 0.9), speech_probability=0.0)) is (
        MoodState.CALM
    )


def test_inside_music_judged_music_it_takes_two_such_patches_in_a_row() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    m.update(obs(3.0, (MUSIC,), (STEADY,), speech_probability=0.0))
    assert m.update(obs(4.0, (MUSIC, UNSURE), (STEADY, PAUSES))) is MoodState.CALM
    assert m.update(obs(5.0, (MUSIC, UNSURE, UNSURE), (STEADY, PAUSES, PAUSES))) is (
        MoodState.SPEECH
    )


def test_speech_entered_on_pauses_holds_on_them_and_ends_when_they_stop() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    assert m.update(obs(3.0, (UNSURE,), (PAUSES,))) is MoodState.SPEECH
    assert m.update(obs(4.0, (UNSURE, UNSURE), (PAUSES, PAUSES))) is MoodState.SPEECH
    # Ambient music after the talk: the head still unsure, but nothing pauses any more.
    assert m.update(obs(5.0, (UNSURE, UNSURE, UNSURE), (PAUSES, PAUSES, STEADY))) is (
        MoodState.SPEECH
    )
    assert m.update(obs(6.0, (UNSURE,) * 4, (PAUSES, PAUSES, STEADY, STEADY))) is MoodState.CALM


def test_without_pause_shares_the_logits_alone_decide() -> None:
    m = MoodStateMachine(AnalyzerConfig())
    o = Observation(media_time_s=3.0, calm_probability=0.9, speech_probability=0.99,
                    silent=False, steady=False, has_patch=True, fresh_segment=False,
                    speech_logits=(UNSURE,))  # fmt: skip
    assert m.update(o) is MoodState.CALM


def test_fewer_pauses_hold_speech_but_do_not_enter_it() -> None:
    c = AnalyzerConfig()
    some = (c.speech_cue_hold_pauses + c.speech_cue_pauses) / 2
    m = MoodStateMachine(c)
    assert m.update(obs(3.0, (UNSURE, UNSURE), (some, some), fresh_segment=True)) is (
        MoodState.CALM
    )
    m = MoodStateMachine(c)
    assert m.update(obs(3.0, (UNSURE,), (PAUSES,))) is MoodState.SPEECH
    newest = (UNSURE, UNSURE, UNSURE)
    assert m.update(obs(6.0, newest, (PAUSES, some, some))) is MoodState.SPEECH
    low = c.speech_cue_hold_logit  # a child's word, say: the head barely leans to speech
    assert m.update(obs(9.0, (UNSURE, low, low), (PAUSES, some, some))) is MoodState.SPEECH
    m = MoodStateMachine(c)
    assert m.update(obs(3.0, (low,), (some,))) is MoodState.CALM  # but does not enter it


def test_after_a_pause_two_patches_that_could_hold_speech_enter_it() -> None:
    """A voice the head is unsure of after silence, pausing less than the cue's entry level
    asks (a voice-over: pause shares 0.3-0.45), is speech on its first two patches."""
    c = AnalyzerConfig()
    some = (c.speech_cue_hold_pauses + c.speech_cue_pauses) / 2
    m = MoodStateMachine(c)
    m.update(obs(0.0, (), (), silent=True, has_patch=False))
    assert m.update(obs(4.0, (UNSURE,), (some,))) is not MoodState.SPEECH  # one is not enough
    assert m.update(obs(5.0, (UNSURE, UNSURE), (some, some))) is MoodState.SPEECH


def test_after_a_pause_music_judged_music_needs_the_entry_level_again() -> None:
    c = AnalyzerConfig()
    some = (c.speech_cue_hold_pauses + c.speech_cue_pauses) / 2
    m = MoodStateMachine(c)
    m.update(obs(0.0, (), (), silent=True, has_patch=False))
    assert m.update(obs(4.0, (MUSIC,), (STEADY,), speech_probability=0.0)) is MoodState.CALM
    # The same two weak patches a moment later are music that pauses, not a voice.
    assert m.update(obs(5.0, (MUSIC, UNSURE), (STEADY, some))) is MoodState.CALM
    assert m.update(obs(6.0, (MUSIC, UNSURE, UNSURE), (STEADY, some, some))) is MoodState.CALM


def test_without_a_pause_two_weak_patches_do_not_enter_speech() -> None:
    c = AnalyzerConfig()
    some = (c.speech_cue_hold_pauses + c.speech_cue_pauses) / 2
    m = MoodStateMachine(c)  # the stream's start is not a pause
    assert m.update(obs(3.0, (UNSURE,), (some,))) is MoodState.CALM
    state = m.update(obs(4.0, (UNSURE, UNSURE), (some, some), fresh_segment=True))
    assert state is MoodState.CALM


def test_a_voice_that_pauses_a_lot_is_speech_at_a_lower_logit_even_under_the_window() -> None:
    """The cue's line: a quiet voice the head scores near 0 (a klettres word: -1.4 at a
    pause share of 0.67) enters speech after music judged music, though the window's
    speech probability stays under ``speech_enter``, and it holds there."""
    c = AnalyzerConfig()
    quiet, many = -1.4, 0.67
    m = MoodStateMachine(c)
    m.update(obs(3.0, (MUSIC,), (STEADY,), speech_probability=0.0))
    assert m.update(obs(4.0, (MUSIC, quiet), (STEADY, many), speech_probability=0.3)) is (
        MoodState.CALM
    )
    newest = (MUSIC, quiet, quiet)
    assert m.update(obs(5.0, newest, (STEADY, many, many), speech_probability=0.3)) is (
        MoodState.SPEECH
    )
    assert m.update(obs(6.0, newest, (STEADY, many, many), speech_probability=0.3)) is (
        MoodState.SPEECH
    )
    window_gates = MoodStateMachine(replace(c, speech_cue_over_window=False))
    for t, n in ((3.0, 1), (4.0, 2), (5.0, 3)):
        state = window_gates.update(
            obs(t, newest[:n], (STEADY, many, many)[:n], speech_probability=0.3)
        )
    assert state is MoodState.CALM


def test_the_line_asks_more_of_a_patch_that_pauses_less() -> None:
    """Staccato music (a titanion track: 8-12 at a pause share of 0.40-0.42) and ambient
    music at a logit just under 0 with a pause share of 0.56 stay music; below the floor,
    no pause share makes a patch speech."""
    c = AnalyzerConfig()
    for logit, pauses in ((12.0, 0.40), (-0.6, 0.56), (c.speech_cue_floor_logit - 0.5, 0.95)):
        m = MoodStateMachine(c)
        assert m.update(obs(3.0, (logit,), (pauses,))) is MoodState.CALM, (logit, pauses)


def test_a_voice_steady_over_two_patches_is_speech_on_their_mean() -> None:
    """A Czech festival voice the held-out head scored 15.0 and 13.2 at pause shares of
    0.43 and 0.40: the second patch alone misses the line, so one patch at a time it was
    never followed; the pair's mean passes. A staccato titanion patch beside a quieter one
    (11.9 at 0.42, then -2.3 at 0.43) stays music, and so does a pair one patch of which
    lies below the floor while the other barely leans to speech."""
    c = AnalyzerConfig()
    voice = ((15.0, 13.2), (0.43, 0.40))
    for config, want in ((c, MoodState.SPEECH), (replace(c, speech_cue_run=False), None)):
        m = MoodStateMachine(config)
        m.update(obs(3.0, (MUSIC,), (STEADY,), speech_probability=0.0))
        assert m.update(obs(4.0, (MUSIC, 15.0), (STEADY, 0.43))) is MoodState.CALM
        state = m.update(obs(5.0, (MUSIC, *voice[0]), (STEADY, *voice[1])))
        assert state is (want or MoodState.CALM)
    for logits, pauses in (((11.9, -2.3), (0.42, 0.43)), ((0.5, -20.0), (0.9, 0.9))):
        m = MoodStateMachine(c)
        m.update(obs(3.0, (MUSIC,), (STEADY,), speech_probability=0.0))
        state = m.update(obs(5.0, (MUSIC, *logits), (STEADY, *pauses), speech_probability=0.2))
        assert state is MoodState.CALM, logits


def test_speech_entered_on_a_pair_holds_on_the_same_pair() -> None:
    """A quiet Hungarian klettres voice (2.7 and -4.2 at pause shares of 0.83 and 0.90):
    the pair enters speech under a low window probability, and the next hop, with no new
    patch, does not leave it (it did once: the hold read the newest patch alone)."""
    m = MoodStateMachine(AnalyzerConfig())
    m.update(obs(3.0, (MUSIC,), (STEADY,), speech_probability=0.0))
    pair = obs(5.0, (MUSIC, 2.7, -4.2), (STEADY, 0.83, 0.90), speech_probability=0.3)
    assert m.update(pair) is MoodState.SPEECH
    assert m.update(replace(pair, media_time_s=6.0)) is MoodState.SPEECH


def test_a_run_is_not_missed_because_a_later_patch_ended_in_the_same_hop() -> None:
    """A Danish voice-over 11 dB over its bed after a hum (12.3 then 10.2 at pause shares of
    0.39 and 0.51): the pair passes on its mean, but a split's second patch (4.5 at 0.34)
    ended in the same hop, and the newest pair alone does not; it was followed 9 s later.
    A run ending at any patch judged since the last hop enters speech; an older one does
    not, and neither does that pair when only the newest patch is new."""
    c = AnalyzerConfig()
    logits, pauses = (MUSIC, 12.3, 10.2, 4.5), (STEADY, 0.39, 0.51, 0.34)
    for new, want in ((2, MoodState.SPEECH), (1, MoodState.CALM)):
        m = MoodStateMachine(c)
        m.update(obs(3.0, (MUSIC,), (STEADY,), speech_probability=0.0))
        assert m.update(obs(5.0, logits, pauses, new_patches=new)) is want, new


def test_a_new_segment_after_a_voice_must_sound_like_one_to_stay_speech() -> None:
    """A staccato titanion track after a voice-over (1.6 and 7.7 at pause shares of 0.41):
    such patches may hold a voice's quieter stretch, and did hold speech for 8 s after the
    voice ended. Once two patches confirm a change of audio, the new segment stays speech
    only on patches that could enter it; without the change, the same patches hold it."""
    c = AnalyzerConfig()
    staccato, pauses = (1.6, 7.7), (0.41, 0.41)
    for fresh, want in ((True, MoodState.AGGRESSIVE), (False, MoodState.SPEECH)):
        m = MoodStateMachine(c)
        assert m.update(obs(3.0, (UNSURE,), (PAUSES,))) is MoodState.SPEECH
        state = m.update(
            obs(8.0, staccato, pauses, fresh_segment=fresh, calm_probability=0.1,
                speech_probability=1.0)
        )  # fmt: skip
        assert state is want, fresh
    held = MoodStateMachine(replace(c, speech_new_segment_enters=False))
    held.update(obs(3.0, (UNSURE,), (PAUSES,)))
    assert held.update(obs(8.0, staccato, pauses, fresh_segment=True)) is MoodState.SPEECH
