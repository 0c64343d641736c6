"""Every tunable of the analysis in one validated record, with units in the names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class AnalyzerConfig:
    """Defaults are the shipped behaviour; the README's "How it decides" explains them."""

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
    speech_enter: float = 0.6
    speech_exit: float = 0.4
    """Window speech probability bounds; the per-patch logits below decide within them
    (the probability alone saturates on some music), and the speech cue beyond them
    (``speech_cue_over_window``)."""
    speech_patch_logit: float = 19.0
    """A patch *sounds like speech* when its calibrated speech logit reaches this: 95 % of
    the devset's speech and voice-over patches do (chosen on them alone). The probability
    saturates: held-out game music reached 0.99+ on a few patches, at calibrated logits of
    up to 15.3 over 1,400 patches (stretches of ambient hedgewars tracks; 13.0 at most in
    the transitions benchmark's streams). With the window probability deciding when speech
    ended, 1.15 % of the benchmark's music events said speech (the state stayed in speech
    after a cut to ambient music whose probability still read 1.0); reading the patches
    on the way out too (``speech_hold_logit``) took that to 0.06 % (1 of 1,616)."""
    speech_hold_logit: float = 15.0
    """A patch below this calibrated speech logit *could not be speech*; at or above it, it
    could. Speech is left once ``speech_confirm_patches`` patches in a row fall below it,
    and after a pause that many at or above it are speech. Held-out music in the
    transitions benchmark's streams peaked at 13.0 on one patch and 11.6 on the lower of two
    in a row; on the devset 2.3 % of speech patches fall below it and 0.8 % of pairs."""
    speech_cue_logit: float = 0.0
    speech_cue_pauses: float = 0.45
    """A patch whose calibrated speech logit reaches ``speech_cue_logit`` (but not
    ``speech_patch_logit``) sounds like speech, and could be speech, when its pause share
    (``speech_cues.pause_share``: frames 15 dB below the patch's loud level in the speech
    band) reaches ``speech_cue_pauses``. The head scores voices it never heard low: on the
    devset, each clip judged by a head fitted without its voice's sources
    (``models/tools/speech_cue_eval.py``), 62 % of speech and 30 % of voice-over patches
    reach 19; with this rule 89 % and 70 %, and none of the 710 patches of music no head
    fitted on passes (nor any of the 3,252 music patches under the shipped head). 3.0 /
    0.3 gave 95 % and 81 % with 2 music patches on the devset, but on the transitions
    benchmark a staccato aggressive track (titanion-ttn1-0: logits 8-11, pause share
    0.41) and quiet patches at cuts (logits 2-4) were called speech: 0.43 % of music
    events, 6.3 flips per hour of steady music; 5.0 / 0.45 gave 0.19 % and 2.1, as before
    the cue, with no change into speech missed (5 before). A logit under ~0.4 could not
    lift the window probability to ``speech_enter`` anyway. The pause share alone passes
    2.5 % of music patches at 0.45 (7 % of hedgewars'). Since issue 20's third round the
    logit asks only that the head lean to speech (0.0, was 5.0), the pause share doing the
    rest: on the devset's held-out patches (held-out heads) the held-out music that reaches
    a pause share of 0.45 lies below a logit of 0 (none of the 710 patches passes at 0, 2 or
    5), while 69 % of voice patches pass at 0 (64 % at 5). On the transitions benchmark (32
    sequences, with ``speech_cue_hold_logit`` 0) a quiet Hebrew klettres voice after
    aggressive music (logits 2.2-2.6, pause shares 0.85) was followed in 4 s, not 9, and a
    voice-over whose first wholly-new patch scored 0.7 at 0.65 in 3.4 s, not 6.4; no music
    event called speech, no flip in steady music, flips in any steady audio 3 -> 1. 2.0
    gave the first and not the second, 3.0 neither; 0.5 (hold 0) not the second either."""
    speech_cue_slope: float = 65.0
    speech_cue_line_logit: float = 10.0
    speech_cue_floor_logit: float = -3.0
    """Beyond that corner, a line in the logit / pause-share plane (``hysteresis.cue_passes``):
    a patch also sounds like speech when its logit reaches ``speech_cue_line_logit`` less
    ``speech_cue_slope`` per unit of pause share above ``speech_cue_pauses`` (10 at 0.45, 3.5
    at 0.55, -3 at 0.65), never below ``speech_cue_floor_logit``; 0 slope: the corner alone.
    Chosen on the devset's held-out patches (``models/tools/speech_cue_eval.py``, part 3):
    among lines that leave all 710 held-out music patches below them, 65 / 10 passes the
    most voice (the line touches a staccato titanion patch, 11.9 at 0.42, and ambient
    powermanga, -0.6 at 0.56). A line *instead of* the corner cannot keep both: its best
    (65 / 10, no floor) passed 92.6 % of held-out speech and 72.4 % of voice-over patches
    (corner 90.1 / 69.9 %) but lost a child's word at 3.5 with a pause share of 0.49, and on
    the transitions benchmark silence -> speech went 3.9 -> 9.3 s at p90 (32 sequences).
    With the corner: 93.1 % and 76.2 %, no music; the floor keeps the line off the
    low-logit music that pauses most (held-out music reaches pause shares of 0.72-0.73 at
    logits -8.5 to -9.1). Measured with ``speech_cue_over_window`` on the transitions
    benchmark (held-out heads): 64 sequences, misses 3 -> 2, aggressive -> speech 16.0 ->
    8.0 s at p90 (a quiet Russian klettres voice at logits +0.3, -1.4, -0.5 with pause
    shares 0.61-0.73), voice-over -> calm 7.0 -> 5.5 s and voice-over -> speech 6.4 -> 3.9 s
    (a Danish ktuberling voice-over at -1.9 / -0.4 with pause shares 0.65, called aggressive
    before, is speech), flips in any steady audio 7 -> 6, none in steady music, music
    called speech 4 of 6,286 events both; 32 sequences: voice-over -> calm 7.0 -> 5.5 s, every
    other figure unchanged; with the shipped heads every figure unchanged. Beside the corner,
    slopes 55 and 75 pass about as much on the devset (93.1 %, 75.5 / 77.1 %); 65 was not
    compared with them on the benchmark."""
    speech_cue_over_window: bool = True
    """A patch the cue's line or corner calls speech enters (and holds) speech even when the
    window speech probability lies below ``speech_enter`` (``speech_exit``): a voice the
    head scores near or below 0 keeps the window's mean logit there, so without this the
    line changed nothing for the klettres voice above, and waiving only the entry made it
    swing speech <-> aggressive every hop (8 flips in one piece). False: the window gates."""
    speech_cue_run: bool = True
    """The cue also passes on the mean logit and mean pause share of the newest
    ``speech_confirm_patches`` patches (``hysteresis.run_cue_passes``): together they sound
    like speech, enter it, and hold it. On the devset's held-out patches (held-out heads,
    ``models/tools/speech_cue_eval.py``'s table) no pair of consecutive held-out music
    patches passes (639; the closest lies 7 logits under the line: titanion 11.9 then -2.3),
    while the voice pairs that sound like speech go 1,006 -> 1,054 of 1,119 (speech) and
    180 -> 197 of 268 (voice-over). On the transitions benchmark (with
    ``peek_skipped_delta``) it followed a Czech festival voice (15.0 / 13.2 at pause shares
    0.43 / 0.40, a miss) in 4.4 s and a Danish ktuberling voice-over (1.1 / -0.4 at 0.64 /
    0.60) in 4.4 s, not 7.9; 32 sequences: misses 2 -> 0, flips and music called speech
    unchanged. Holding on the pair too: entered on 2.7 / -4.2 at 0.83 / 0.90 (a quiet
    Hungarian klettres voice), speech was left the next hop on the newest patch alone."""
    speech_cue_hold_logit: float = 0.0
    speech_cue_hold_pauses: float = 0.3
    """Speech already entered is held by a patch at ``speech_cue_hold_logit`` or more with
    this pause share (hysteresis, as ``speech_hold_logit`` is to ``speech_patch_logit``).
    On the transitions benchmark (held-out heads) a voice-over whose voice the head scores
    6-8 with pause shares of 0.35-0.39 between stretches scored 15+ swung speech <->
    aggressive four times in 20 s at 5.0 / 0.45, and children's words at logits 2.7-4.7
    (pause share 0.6-0.7) fell out of speech at 5.0 / 0.3: flips in steady audio 12 -> 8
    -> 5, every other figure unchanged, with the shipped heads too. On the devset 2 of the
    710 held-out music patches pass (no two in a row), while 97 % of held-out speech and
    83 % of voice-over patches could be speech by it. Only to hold, and to enter after a
    pause: entering on two patches at 0.3 after a change of music made two patches of a
    staccato aggressive track (logits 8-11, pause share 0.41) speech. After silence or a
    steady tone, the first two patches that could be speech by it (every patch since the
    pause could) enter speech: a Polish espeak voice the held-out head scored 3.6 and 2.1
    (pause shares 0.60, 0.55) after silence was followed in 4.4 s, not 7.4 s, on the
    transitions benchmark, with the same flips on its 16 sequences and no music event
    called speech on them or on 32 (0 of 1,590 and of 3,320). Lowered to 0.0 with
    ``speech_cue_logit`` (it may not lie above it): on the devset the same 2 held-out music
    patches pass at 0 as at 2 (none two in a row), 91 % of held-out voice patches instead
    of 90 %."""
    speech_new_segment_enters: bool = True
    """In speech, a new segment the patches confirm (a change of audio two patches agree
    on) stays speech only on patches that could enter it (``could_be_speech`` without the
    hold levels): the hold levels are for the same voice's quieter stretches, and what
    follows a confirmed change is new audio that has not been heard to be a voice. On the
    transitions benchmark (held-out heads) a staccato aggressive track (titanion, logits
    -1.3 to 7.7 at pause shares 0.41) after a voice-over held speech for 7.7 and 8.6 s, and
    calm music after a talk or a voice-over (hw-underwater-2) for 7.4 and 7.1 s: seeds
    0-31 late changes 5 -> 4, music events called speech 2 -> 0; 64-127 every figure
    unchanged; 128-191 late 12 -> 9, music events called speech 14 -> 7 (0.24 -> 0.12 %),
    kinds over 5 s 3 -> 2; ``--all-music`` seeds 0-31 and 64-127 unchanged; no flip and
    no change into a voice later anywhere. False: the hold levels apply throughout."""
    talk_drop_logit: float | None = 15.0
    """In speech, a patch whose calibrated speech logit falls this far below the patch's
    before it may hold the talk's end: the next patch is judged from the cut novelty's
    change point finds in it (``change_points.talk_end_cut``), not on the grid a whole patch
    later (a cue novelty the mel frames of a voice over music may not show). None: the
    grid's. On the transitions benchmark (held-out heads, with ``speech_cue_run``): 32
    sequences, speech -> calm 5.2 -> 4.4 s and voice-over -> aggressive 6.4 -> 5.4 s at p90
    (an espeak talk into hw-underwater-2, 37.7 then 19.3; a tuxpaint voice-over into
    hw-olympics-sd-0, 17.6 then 1.8, whose cut novelty put 2.7 s into the patch), music
    called speech 1 -> 0; 64: the same two and 4 -> 3 music events called speech, kinds over
    5 s unchanged (3), flips unchanged. 10 gave the same on 32 but on 64 moved an espeak ->
    titanion grid onto two staccato patches that hold speech (5 music events called speech);
    the next patch half a hop after the straddling one (not at the cut) gave 2 more flips in
    steady music on 32."""
    talk_end_latest_s: float = 1.5
    """The patch after a talk's end is judged from novelty's cut, or from this far into the
    patch the logit fell in if the cut lies later (half a patch): a logit that fell 15 says
    most of that patch is no longer the talk, wherever novelty puts the cut. Novelty put the
    tuxpaint voice-over's 2.7 s into its patch (the talk ended 0.45 s in); at 1.5 s,
    voice-over -> aggressive 5.4 -> 4.4 s at p90 on 32 sequences (and its largest lag on
    64), every other figure unchanged on 32 and 64."""
    speech_confirm_patches: int = 2
    """From music judged music, ``speech`` needs this many newest patches in a row that
    sound like speech (one suffices after silence, a tone, a change of music or at the
    start); speech is left when this many in a row fall below ``speech_hold_logit``. With
    the ``speech_patch_logit`` rule the benchmark's music caught no speech either way (1 or
    2); 2 guards against a single shouted or sung patch at a cost of 0.1 s at p90."""
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
        if self.fresh_mood_margin < 0:
            raise ValueError("fresh_mood_margin must be >= 0")
        if self.confident_widening < 0 or self.second_patch_after_s <= 0:
            raise ValueError("confident_widening must be >= 0 and second_patch_after_s > 0")
