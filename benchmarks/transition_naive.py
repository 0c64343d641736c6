"""The transitions benchmark's naive reference: what a state without hysteresis, segments or
patch rules would say, scored in the same run on the same patches as ours."""

from __future__ import annotations

import math

import numpy as np

from streamchill.analyzer.config import AnalyzerConfig
from streamchill.analyzer.events import MoodState
from streamchill.analyzer.models_bundle import ModelBundle
from streamchill.analyzer.session import PatchResult
from transition_pieces import RATE_HZ, Sequence, Timeline


def naive_timeline(
    seq: Sequence, times: list[float], history: list[PatchResult], heads: ModelBundle
) -> Timeline:
    """The 30 s average of patch probabilities with fixed thresholds, at the same times."""

    c = AnalyzerConfig()
    calm = np.array([heads.calm.decision_probability(np.array([p.calm_logit])) for p in history])
    speech = np.array(
        [heads.speech.window_probability(np.array([p.speech_logit])) for p in history]
    )
    starts = np.array([p.start_s for p in history])
    ends = np.array([p.end_s for p in history])
    audible = np.array([p.level_db > c.silence_db for p in history])
    out: Timeline = []
    for t in times:
        tail = seq.audio[max(0, round((t - c.silence_span_s) * RATE_HZ)) : round(t * RATE_HZ)]
        power = float(np.mean(tail.astype(np.float64) ** 2)) if len(tail) else 0.0
        inside = (ends <= t + 1e-6) & (starts >= t - c.window_s)
        voting = inside & audible if (inside & audible).any() else inside
        if 10 * math.log10(power + 1e-12) < c.silence_db:
            state = MoodState.SILENCE
        elif not voting.any():
            state = MoodState.WARMING_UP
        elif speech[voting].mean() >= 0.5:
            state = MoodState.SPEECH
        elif calm[voting].mean() >= c.calm_enter:
            state = MoodState.CALM
        elif calm[voting].mean() <= c.aggressive_enter:
            state = MoodState.AGGRESSIVE
        else:
            state = MoodState.NEUTRAL
        out.append((t, state))
    return out
