"""Every tunable of the analysis in one validated record, with units in the names."""

from __future__ import annotations

from dataclasses import dataclass

from streamchill.analyzer.speech_rules import SpeechRules


@dataclass(frozen=True, kw_only=True)
class AnalyzerConfig(SpeechRules):
    """Defaults are the shipped behaviour; the README's "How it decides" explains them.
    The speech rules' fields are in the base class (``speech_rules.py``)."""

    window_s: float = 30.0
    """Rolling window for the per-30 s features (and the upper bound of CNN evidence)."""
    hop_s: float = 1.0
    """An event is published every hop of media time."""
    patch_interval_s: float = 2.992
    """A new 3 s patch is judged every this many seconds (187 frames: non-overlapping)."""
    settled_patch_stride: int = 2
    """While the state is settled on a confident segment (``confident_after_patches``) and no
    change is proposed, only every this-many-th patch is judged; mel novelty still re-aligns
    the grid and a patch is judged as soon as one is complete, and a patch that could be
    speech calls for the next at the usual rate. 1 judges every patch. On the transitions
    benchmark 2 judged 0.282 instead of 0.352 CNN patches per audio second with the
    held-out speech heads (0.297 instead of 0.351 with the shipped ones, every figure
    unchanged there), with the same misses, flips and music called speech; the shipped
    examples give the same state sequences event for event."""
    peek_skipped_delta: float | None = 0.35
    """The student alone looks at each patch the settled stride skips (~0.3 ms, counted
    nowhere), and the patch is judged after all (the grid re-aligned on it) when that look
    says it may be speech (``student_maybe_speech_logit``) or moves the segment's calm or
    speech probability by more than this (``drift_delta``'s value: a patch beyond it would
    be a suspect). None: skipped patches are not looked at. The first wholly-new patch after
    a cut mel novelty did not mark (novelty 0.46-0.89 there) was otherwise skipped, and the
    change judged a whole patch late. On the transitions benchmark (held-out heads, devset
    features as of 2026-12-02 16:29): 32 sequences, neutral -> calm 7.1 -> 4.1 s at p90;
    64, aggressive -> speech 6.1 -> 4.4 s, aggressive -> voice-over 7.3 -> 4.3 s; flips,
    misses and music called speech unchanged, shipped examples' events unchanged. Cost:
    3.62 -> 3.76 ms CPU per audio second over the calm example looped for 180 s (the same 48
    patches judged; medians of 3, one stream, machine shared)."""
    teacher_audit_patches: int = 12
    """Cascade (``analyzer/cascade.py``): the student judges every patch; the musicnn teacher
    also judges, and its judgement counts for, every this-many-th patch the student would
    judge alone (an *audit*). 1: the teacher judges every patch. Run over the devset's
    patches as one stream per label (``models/tools/student_cascade.py``,
    ``models/cascade_report.json``; audits and maybe-speech only), 12 has the teacher judge
    9.2 % of the development sources' music patches and 14.0 % of the set-aside sources'
    (8: 13.7 / 17.8 %, 16: 7.1 / 12.0 %). On the streaming benchmark's input (the examples
    looped, a change of music every 20 s, timed 60 s after 30 s) it judged 7 of 18 patches
    (1 audit, 3 changes, 3 close calls): 12.4 ms CPU per audio second against 19.9 with the
    teacher on every patch, 6.9 without the close-call rules (2 of 18: ``change_doubt`` and
    ``calm_doubt`` 0); medians of 3 alternating runs, one pinned core, machine shared at
    load ~5-6; a teacher patch costs ~57 ms, a student patch 0.28."""
    teacher_probation_patches: int = 0
    """The teacher also judges (and audits the student on) a stream's first this-many
    patches. 0: the first estimate is the student's, and the first audit comes at the
    stream's 2nd to ``teacher_audit_patches``-th patch (``Cascade.from_config``). With 1,
    the first estimate waited for musicnn: hop-to-subscriber p99 68 ms for one stream and
    2,058 ms for 50 streams started within a second (``benchmarks/run.py``, 7470849);
    maybe-speech and close-call patches still go to the teacher from the first patch on."""
    teacher_fallback_patches: int = 10
    """After an audit finds student and teacher disagreeing, the teacher judges this many
    patches of the stream in a row (~30 s), then the next patch the student would judge
    alone is audited again: a stream the student does not follow stays with the teacher."""
    student_maybe_speech_logit: float = -4.0
    """A patch whose student calibrated speech logit (``speech_head_student.json``, on the
    teacher head's scale) reaches this *could be* speech, and the teacher judges it: the
    student never decides speech. Out of source (each voice and each music source left out
    of the head's fit): 99.82 % of the devset's speech and voice-over patches reach -4 and
    every patch the teacher calls possible speech (``speech_hold_logit``); 1.66 % of music
    patches do (0: 99.54 % / 0.74 %). The highest candidate keeping 99.8 % was chosen: an
    unseen voice is the risk, a music patch sent to the teacher costs only time."""
    cascade_calm_tolerance: float = 1.5
    """An audit disagrees when the calm head's patch logits on the teacher's and on the
    student's MSD tags differ by more than this, or when the teacher's calibrated speech logit
    reaches ``speech_hold_logit`` (the student had not even said maybe). Measured for calm
    head v5 (``models/tools/student_cascade.py``, ``models/cascade_report.json``): of the
    patches an audit can land on, 0.04 % of the development sources' and 0.64 % of the
    set-aside sources' (never seen by the student) disagree at 1.5; 1.25 gave 0.22 / 2.1 %.
    With the sources added after v6 (colobot's synth music set aside): 0.11 / 1.54 % at 1.5.
    Median |difference| 0.15 and 0.30 logits (v5 reads the student's MTT tags on both sides,
    so the two sides differ less than v4's 0.33 / 0.54, for which 2.5 was chosen)."""
    change_doubt: float = 0.15
    """A patch that decides a change of music (against ``change_confirm_delta`` or
    ``patch_change_delta``, ``SegmentTracker.decision``) goes to the teacher when the
    student's judgement of it lies closer than this (probability) to that tolerance: the
    student's calm logit is ~0.3-0.5 off the teacher's on a typical patch, enough to tip a
    close decision. Without it a cut from the calm to the aggressive example was followed
    in 6.0 s instead of the teacher's 2.0 (``tests/test_session_schedule.py`` promises 5);
    without this and ``calm_doubt`` the transitions benchmark's p90 lag went from 4.92 s
    (the teacher's) to 5.49 s."""
    calm_doubt: float = 0.08
    """A patch that leaves its segment's window calm probability closer than this to one of
    the state thresholds (``calm_thresholds``) goes to the teacher (a *close call*). On the
    transitions benchmark (16 sequences, 54 min) the shipped settings gave the teacher's
    figures (lag p50 / p90 3.43 / 4.92 s, 5 misses, 1 flip in steady music, 3 in any steady
    audio) with no music called speech (the teacher alone: 3 of 1,615 events), the teacher
    judging 432 of 906 patches (308 maybe speech, 43 audits, 38 changes, 43 close calls)
    where it judged all before; 0.05 gave 2 and 4 flips. Without it the 12 s flare battle
    fixture of ``tests/test_judgement_regression.py`` read 0.54 calm (the teacher: 0.49)."""
    danceability_interval_s: float = 10.0
    """DFA danceability is the costliest feature; it is refreshed this often."""
    settled_after_s: float = 9.0
    """Events are flagged ``warming_up`` until this much audio (about 3 patches) is in."""

    calm_enter: float = 0.6
    calm_exit: float = 0.5
    aggressive_enter: float = 0.4
    aggressive_exit: float = 0.5
    """The neutral band is (0.4, 0.6) and a held state is left only past the heads' own 0.5
    (was (0.35, 0.65), left at 0.55/0.45). Measured on 2026-12-01 (issue 20): calm pieces
    whose 30 s window sat at 0.55-0.70 swung calm <-> neutral 14 times in 8 sequences. On
    the transitions benchmark both bands give the same flips (3 in 23 min of music): the
    held-out calm clips judged right all sit at 0.79-1.00 over the whole clip, so the band
    edge is not what this sample tests."""
    confident_after_patches: int = 5
    confident_widening: float = 0.1
    """A held calm or aggressive state may drift this far beyond its exit threshold once
    its segment rests on ``confident_after_patches`` patches (linearly less before): the
    30 s mean of a long segment moves slowly, and a dip to 0.45 inside a calm piece is the
    piece, not a change. On the transitions benchmark's 14 first sequences (23 min of
    steady music): 0 gave 4 flips in music and 11 per hour of any steady audio, 0.1 gave
    3 and 5.6; 0.2 gave the same as 0.1, so the smaller one stays."""
    min_dwell_s: float = 3.0
    """A state must be wanted this long before it replaces another (waived after a change)."""
    fresh_mood_margin: float = 0.05
    """A change of music waives the dwell into a mood only when the new segment's calm
    probability is clear of that mood's bars by this much (calm at ``calm_enter`` + 0.05 or
    more, aggressive at ``aggressive_enter`` - 0.05 or less, neutral 0.45-0.55); nearer,
    the mood must be wanted for ``min_dwell_s`` like any other. The segment is confirmed by
    two patches 0.5 s apart, which share 2.5 s of audio: a calm piece's 3 s passage judged
    0.38 (hw-snow-0, 11 s in, among patches at 0.96) confirmed a new segment and made the
    state aggressive for 11 s. On the transitions benchmark (held-out heads) flips in
    steady music, seeds 0-31 / 64-127 / 128-191: 2 / 4 / 11 -> 0 / 4 / 3, changes later
    than 5 s 4 / 11 / 9 -> 5 / 11 / 10 (an aggressive hw-olympics-sd-1 opening at 0.36-0.39,
    7.2 s; enigma-in-space-2, 6.8 s), kinds over 5 s unchanged; ``--all-music`` seeds 0-31 /
    64-127: flips 7 / 23 -> 5 / 19, late 15 / 23 -> 15 / 24. 0.1 took the same flips and
    made 2 / 4 / 3 more changes late. 0: a confirmed change always waives the dwell."""

    silence_db: float = -55.0
    """Audio whose level stays below this (dBFS) over ``silence_span_s`` is silence."""
    silence_span_s: float = 1.5
    music_rest_s: float = 2.0
    """Inside music the state has judged (a settled calm, aggressive or neutral), silence
    needs this long below ``silence_db``, not ``silence_span_s``: a piece's rests and
    decays are part of the piece. On the transitions benchmark with ``--all-music`` (seeds
    0-31) 0ad-albian-nocturne-1, which decays below -55 dBFS for 1.0-1.5 s twice, went
    calm -> silence -> calm: flips in steady music 9 -> 7, nothing else moved; music ->
    silence 2.3-2.5 -> 2.6-3.0 s at p90 on the default samples. 2.5 and 3.0 s fixed the same
    flips and took 3 and 4 s into silence."""

    pause_ends_segment_s: float | None = 4.0
    """Silence or a steady tone that has lasted this long (counted from its first quiet hop,
    so about 5.5 s of audio) ends the segment: the first patch holding at least half a patch
    of what follows begins a new one with nothing to confirm, and the next patch is judged
    as soon as a split's second would be (``second_patch_after_s``). Before, a pause decided
    nothing, so the music after it was averaged with the music before it until two patches
    told them apart by ``change_confirm_delta``: powermanga-game-1 (0.27, 0.22) after a 14 s
    sine that followed music judged 0.41 stayed `neutral` for 11 s; a patch straddling the
    tone's end (mostly tone, judged 0.94) voted too. A piece's rests are far shorter
    (``music_rest_s``). On the transitions benchmark (held-out heads), seeds 0-31 / 64-127
    / 128-191: changes later than 5 s 5 / 11 / 10 -> 4 / 10 / 8 (hw-snow-2 after silence
    12.7 s, enigma-across-the-ice-2 after silence and after a hum 6.6 and 8.3 s), none
    later; flips in steady music 0 / 4 / 3 -> 0 / 4 / 5 and music events called speech 0 /
    0 / 7 -> 0 / 0 / 9 (titanion-ttn1-0's opening, which the speech heads score as a voice,
    judged on its own after silence); ``--all-music`` seeds 0-31 unchanged. None: a pause
    never ends the segment."""

    novelty_threshold: float = 0.9
    """Distance (in units of the segment's own spread) between the mean log-mel of the last
    ``novelty_recent_s`` and the segment before it that suggests a change of music. On the
    devset it fires at ~78 % of track changes within 1.5 s and on ~10 % of hops inside a
    track; the CNN confirms (``change_confirm_delta``) before old evidence is dropped."""
    novelty_recent_s: float = 1.5
    novelty_min_segment_s: float = 2.5
    change_confirm_delta: float = 0.25
    """A suspected change is confirmed when the first new patch's calm or speech probability
    differs from the old segment's by more than this."""
    second_patch_after_s: float = 0.5
    """A tentative change of music is decided by a second patch judged this long after
    the first (not a whole patch later): the first patch after a cut completes ~3.3-4.9 s
    after it, so a second one a whole patch later would put every followed change past
    6 s. On the transitions benchmark (16 sequences, 117 changes) 1.0 s gave a p90 lag of
    4.8 s over all changes and 0.5 s gives 4.5 s (the second patch often lands before the
    same hop as the first), at no extra patches."""
    patch_change_delta: float = 0.7
    """Without mel novelty, a patch whose calm or speech probability differs from the
    segment's by more than this starts a new segment on its own (talk -> song)."""
    drift_delta: float | None = 0.35
    """Without mel novelty, a music patch whose calm probability differs from the segment's
    by more than this (not ``patch_change_delta``: a patch straddling a cut is half the old
    music) is a *suspect*: the next patch is judged ``drift_confirm_after_s`` after it (not
    skipped while settled), and if it too differs by more than this the same way, the
    segment begins at the suspect (``segments.py``). None: no suspects. On the transitions
    benchmark (32 sequences) aggressive -> calm went from 10.1 s at p90 (a cut novelty
    missed, its first patch 0.57 off the aggressive piece) to 4.9 s (5.1 s counting a
    borderline calm piece the extra patches moved out of the sample), p50 / p90 over all
    3.49 / 4.50 -> 3.45 / 4.49 s, flips, misses and music called speech unchanged (16
    sequences: every figure unchanged); 0.30 gave one more flip in steady music, 0.40 the
    figures of 0.35. Only between patches that could not be speech: a talk's calm
    judgement means nothing, and splitting a voice -> music cut at the straddling patch
    kept the voice in the music's segment (speech -> calm 6.0 -> 6.4 s, one music event
    called speech)."""
    place_own_splits: bool = True
    """When a patch splits the segment on its own (no novelty proposed a change: a talk ->
    music cut the saturated speech probability hides, or a patch beyond
    ``patch_change_delta``), the cut is placed inside it by novelty's change point and the
    patch that decides the split is judged from there, wholly after the cut (not
    ``second_patch_after_s`` after the straddling patch); the segment then begins there. The
    same when novelty proposed the change but the cut lies later in the first patch (novelty
    fired inside the old piece). A cut placed within the first ``second_patch_after_s``
    changes nothing. On the transitions benchmark (32 sequences, held-out heads, with
    ``follow_up_early_s`` 0): speech -> calm 6.0 -> 5.4 s at p90 (ktuberling-ru ->
    enigma-in-space-0: 6.0 -> 4.0 s), flips in any steady audio 4 -> 1, none in steady music
    either way, no music called speech. With ``follow_up_early_s`` 0.1, placing took flips
    in steady music 2 -> 0 (any steady audio 6 -> 3) and the worst kind 20.4 s -> a miss
    (the tone -> voice-over below), speech -> calm 7.0 -> 5.4 s."""
    follow_up_early_s: float = 0.1
    """A follow-up patch (the second patch of a split, a drift suspect's confirmation) that
    would complete less than this after a hop boundary starts that much earlier, so the
    hop's event already reads it, not the next one's. Second patches of changes novelty
    placed ~0.6 s late completed 0.06 s after a hop (neutral -> calm 5.1 s, twice), a drift
    suspect's confirmation 0.05 s after (aggressive -> calm 5.14 s). On the transitions
    benchmark (32 sequences, with ``place_own_splits``): p50 / p90 over all changes 3.50 /
    4.45 -> 3.42 / 4.20 s, neutral -> calm 5.1 -> 4.1 s, calm -> voice-over 5.1 -> 4.4 s at
    p90; it also moved a quiet voice's second patch onto audio the head scored 2.6 instead
    of 5.9 (aggressive -> speech 5.0 -> 9.0 s, flips in any steady audio 1 -> 3), which the
    speech cue at a logit of 0 (``speech_cue_logit``) follows in 4 s."""
    drift_looks_in_talk: bool = True
    """Around a patch that could be speech, a calm move beyond ``drift_delta`` splits
    nothing but has the next patch judged ``drift_confirm_after_s`` later, not a whole patch:
    music may have begun under it. On the transitions benchmark (32 sequences, held-out
    heads) speech -> calm 5.4 -> 4.4 s (a Portuguese espeak talk into hw-underwater-2: the
    patch straddling the cut still scored 38.8 for speech but 0.54 calm against the talk's
    ~0.2; the next, 1.5 s later, was wholly music), every other figure unchanged, 0.1 %
    more patches. Measured with the dwell kept for a split awaiting its second patch
    (``Session._hop``): without that, the false split of a later patch of the same piece,
    whose placed cut kept it tentative for 2.6 s, moved the state to neutral on its one
    patch (2 flips in steady music, 0 with it; alone that guard changes no other figure)."""
    drift_confirm_after_s: float = 1.5
    """How soon after a suspect the patch that confirms or clears it is judged: half a patch,
    so it holds new audio (0.5 s, nearly the same audio, gave 2 flips in steady music on 32
    sequences against 0; a whole patch would put such a change past 6 s)."""
    tone_spread: float = 0.03
    """Mean temporal std of the log-mel bands over 3 s below which audio is a steady tone or
    hum (music, even a drone, measured >= 0.08 on the devset; a sine measures 0)."""
    noise_autocorr: float = 0.12
    noise_block_spread: float = 0.065
    """Noise: bands with no temporal structure (median lag-64 ms autocorrelation below
    ``noise_autocorr``) whose 0.5 s block means barely move (below ``noise_block_spread``).
    Music: autocorrelation 0.4+ (calm) or block spread 0.07+ (harsh aggressive)."""
    noise_confirm_hops: int = 3
    """Inside music the state has judged (a settled calm, aggressive or neutral), it takes
    audio for noise only once the noise check has passed on this many hops in a row; at the
    start, after a pause or a tone, and for a steady tone, at once. Soft sustained
    music passes it for a hop or two now and then: on the transitions benchmark with
    ``--all-music`` openclonk-luciddream-3 and flare-wind-ambient-0 went calm -> neutral
    (``noise``) -> calm every 4-6 s (18 flips in four draws), each ``noise`` stretch 1-2 hops
    long. With 3: flips in steady music 4 -> 2 (seeds 0-31), 8 -> 4 (64-127), 11 -> 11
    (128-191), and with ``--all-music`` 27 -> 23 and 35 -> 23; no change later than 5 s
    more or fewer, into silence or a tone 0.1-0.2 s later at p90 (3.7-3.9 s: a cut from
    music to a tone can read as noise for a hop first). 1: as before (every hop's check is
    the state's)."""

    @property
    def calm_thresholds(self) -> tuple[float, ...]:
        """Where a window calm probability moves the state (enter and exit, both moods).

        Every calm probability the state, the change deltas and ``calm_doubt`` compare is on
        the calm head's *decision* map (``LogisticHead.decision_probability``: its untempered
        out-of-source Platt map), not the published calibration, which may be flatter."""
        return (self.aggressive_enter, self.aggressive_exit, self.calm_exit, self.calm_enter)

    def __post_init__(self) -> None:
        if self.hop_s <= 0 or self.window_s < 3.0 or self.patch_interval_s <= 0:
            raise ValueError("hop_s and patch_interval_s must be > 0 and window_s >= 3")
        if not (self.aggressive_enter <= self.aggressive_exit <= self.calm_exit <= self.calm_enter):
            raise ValueError(
                "thresholds must satisfy aggressive_enter <= aggressive_exit <= "
                "calm_exit <= calm_enter"
            )
        if not self.speech_exit <= self.speech_enter:
            raise ValueError("speech_exit must be <= speech_enter")
        if self.teacher_audit_patches < 1:
            raise ValueError("teacher_audit_patches must be >= 1")
        if min(self.teacher_fallback_patches, self.teacher_probation_patches) < 0:
            raise ValueError("teacher_fallback_patches and teacher_probation_patches must be >= 0")
        if self.cascade_calm_tolerance <= 0 or self.change_doubt < 0:
            raise ValueError("cascade_calm_tolerance must be > 0 and change_doubt >= 0")
        if not (
            self.speech_cue_hold_pauses <= self.speech_cue_pauses
            and self.speech_cue_hold_logit <= self.speech_cue_logit
        ):
            raise ValueError("the speech cue's hold levels must be <= its entry levels")
        if self.noise_confirm_hops < 1:
            raise ValueError("noise_confirm_hops must be >= 1")
        if not 0 < self.silence_span_s <= self.music_rest_s <= self.window_s:
            raise ValueError("need 0 < silence_span_s <= music_rest_s <= window_s")
        if self.settled_patch_stride < 1:
            raise ValueError("settled_patch_stride must be >= 1")
        if self.speech_confirm_patches < 1 or self.confident_after_patches < 1:
            raise ValueError("speech_confirm_patches and confident_after_patches must be >= 1")
        if self.drift_confirm_after_s <= 0:
            raise ValueError("drift_confirm_after_s must be > 0")
        if self.pause_ends_segment_s is not None and self.pause_ends_segment_s <= 0:
            raise ValueError("pause_ends_segment_s must be > 0 (or None)")
        if self.fresh_mood_margin < 0:
            raise ValueError("fresh_mood_margin must be >= 0")
        if self.confident_widening < 0 or self.second_patch_after_s <= 0:
            raise ValueError("confident_widening must be >= 0 and second_patch_after_s > 0")
