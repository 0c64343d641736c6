"""Signal-level evidence of speech in a patch, for voices the speech head never heard.

The speech head scores the voices it was fitted on far above any music, but an unseen
voice (a child's recorded word, a synthetic voice in another language, a voice-over quiet
in the mix) can land at a calibrated logit of 2-15, where ambient music lands too. Speech
has a property music rarely has over 3 s: it stops between words. This module measures
that from the patch's own log-mel frames, without knowing the voice.

**Pause share**: the share of a patch's frames whose energy in the speech band
(mel bands centred between 300 and 3400 Hz) lies :data:`PAUSE_DEPTH_DB` or more below the
patch's loud level (its 95th percentile frame). Measured on the devset's 3 s patches
(``models/tools/speech_cue_eval.py``): median 0.51 for speech, 0.47 for speech over music,
0.00 for music; AUC 0.98 (speech vs music) and 0.95 (voice-over vs music). It depends on
nothing fitted, so no voice or source is "unseen" to it; what it cannot tell apart is
music that stops too (staccato stabs, a fade): 10 % of music patches reach 0.2, 5.5 %
0.3 and 2.5 % 0.45. It is therefore read together with the speech head
(``AnalyzerConfig.speech_cue_logit``), never alone.

Cost: ~0.1 ms a patch (one ``10**x`` over the speech band's 187 x ~60 values and a
percentile), against ~50 ms for the CNN that judges the same patch.
"""

from __future__ import annotations

import functools

import numpy as np

from streamchill.analyzer.mel import N_MELS

SPEECH_BAND_HZ = (300.0, 3400.0)
"""The telephone band: where a voice's energy, and its pauses, are."""
PAUSE_DEPTH_DB = 15.0
"""A frame this far below the patch's loud level is a pause. On the devset's patches
10 dB gave AUC 0.967 / 0.957 (speech / voice-over vs music), 15 dB 0.979 / 0.949 and
20 dB 0.978 / 0.916; 15 dB separated best among the patches the speech head is unsure of
(held-out logit 5-19: 0.967, 10 dB 0.956)."""
LOUD_PERCENTILE = 95.0
"""The patch's loud level: a percentile, not the maximum, so one click sets nothing."""
_LN10 = np.float32(np.log(10.0))
MEL_TOP_HZ = 8_000.0
"""musicnn's mel bands span 0-8 kHz (``mel.py``)."""


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as ``mel.py`` uses."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz < 1000.0, hz * 3.0 / 200.0, 15.0 + np.log(hz / 1000.0) / log_step)


@functools.cache
def speech_bands() -> slice:
    """The mel bands whose centre lies in :data:`SPEECH_BAND_HZ` (adjacent: a slice)."""
    mel_points = np.linspace(0.0, float(_slaney_mel(np.array(MEL_TOP_HZ))), N_MELS + 2)
    centres_mel = mel_points[1:-1]
    lo, hi = _slaney_mel(np.array(SPEECH_BAND_HZ))
    inside = np.flatnonzero((centres_mel >= lo) & (centres_mel <= hi))
    return slice(int(inside[0]), int(inside[-1]) + 1)


def pause_share(frames: np.ndarray) -> float:
    """Share of the frames that are pauses in the speech band, 0..1 (see the module doc).

    ``frames``: a patch of musicnn log-mel frames ``[n, 96]`` (``log10(10000 x + 1)``). A
    silent or perfectly steady patch has no pauses (0.0): its frames all sit at one level.
    """
    if frames.ndim != 2 or frames.shape[1] != N_MELS:
        raise ValueError(f"expected log-mel frames [n, {N_MELS}], got shape {frames.shape}")
    if len(frames) == 0:
        return 0.0
    # Undo the log: 10**x - 1 is 10000 x the band power, and only ratios matter here.
    power = np.expm1(frames[:, speech_bands()].astype(np.float32) * _LN10)
    energy_db = 10.0 * np.log10(power.sum(axis=1, dtype=np.float64) + 1e-10)
    k = int(LOUD_PERCENTILE / 100.0 * (len(energy_db) - 1))
    loud_db = np.partition(energy_db, k)[k]  # the percentile, without a full sort
    return float(np.mean(energy_db < loud_db - PAUSE_DEPTH_DB))
