"""The batch answer, shaped like the original Stream & Chill service's ``GET /<video_id>``.

``{"timestamps": [{"start", "end", "avg_db_deviation", "bpm", "danceability",
"calm_probability", "state"}, ...], "aggressive": bool, "calm_probability": float,
"state": str}``, one entry per 30 s chunk. ``state`` is the state that held for most
of the chunk (or of the whole input, for the top-level field).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from streamchill.analyzer.events import MoodEvent, MoodState, calm_is_judged
from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.segments import PatchResult

CHUNK_S = 30.0


def majority_state(events: Sequence[MoodEvent]) -> MoodState:
    """The state held by most events (ties go to the one reached first)."""
    if not events:
        return MoodState.SILENCE
    counts = Counter(e.state for e in events)
    best = max(counts.values())
    return next(e.state for e in events if counts[e.state] == best)


def summarize(
    events: Sequence[MoodEvent],
    patches: Sequence[PatchResult],
    calm_head: LogisticHead,
    *,
    duration_s: float,
    silence_db: float,
    chunk_s: float = CHUNK_S,
) -> dict[str, Any]:
    """Build the seed-compatible verdict from a finished session's events and patches."""
    audible = [p for p in patches if p.level_db > silence_db]
    chunks: list[dict[str, Any]] = []
    start = 0.0
    while start < duration_s or not chunks:
        end = min(start + chunk_s, duration_s)
        in_chunk = [e for e in events if start < e.media_time_s <= end + 1e-6]
        at_end = in_chunk[-1] if in_chunk else (events[-1] if events else None)
        logits = np.array([p.calm_logit for p in audible if start <= p.start_s < end])
        state = majority_state(in_chunk) if in_chunk else MoodState.SILENCE
        judged = calm_is_judged(state, _majority_reason(in_chunk, state))
        features = at_end.features.to_dict() if at_end else {}
        chunks.append(
            {
                "start": round(start, 3),
                "end": round(end, 3),
                "avg_db_deviation": round(features.get("avg_db_deviation", 0.0), 3),
                "bpm": round(features.get("bpm", 0.0), 2),
                "danceability": round(features.get("danceability", 0.0), 4),
                "loudness_db": round(features.get("loudness_db", -120.0), 2),
                "calm_probability": _prob(calm_head, logits) if judged else None,
                "state": state.value,
            }
        )
        start += chunk_s
        if duration_s <= 0:
            break
    overall = majority_state(events)
    all_logits = np.array([p.calm_logit for p in audible])
    overall_judged = calm_is_judged(overall, _majority_reason(events, overall))
    return {
        "timestamps": chunks,
        "aggressive": overall is MoodState.AGGRESSIVE,
        "calm_probability": _prob(calm_head, all_logits) if overall_judged else None,
        "state": overall.value,
        "duration_s": round(duration_s, 3),
    }


def _majority_reason(events: Sequence[MoodEvent], state: MoodState) -> str | None:
    """The most common ``reason`` among the events in ``state`` (None when there is none)."""
    reasons = Counter(e.reason for e in events if e.state is state)
    return reasons.most_common(1)[0][0] if reasons else None


def _prob(head: LogisticHead, logits: np.ndarray) -> float | None:
    """Calm probability of some patches; null when none of them is audible."""
    if len(logits) == 0:
        return None
    return round(head.window_probability(logits), 4)
