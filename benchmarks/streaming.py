"""In-process figures of one stream: CPU per second of audio, and audio before the first estimate.

Both sessions get the same music in the same 100 ms blocks of 44.1 kHz stereo, as the
extension sends it. CPU is ``time.process_time`` (all threads of this process, which is
pinned to one core, with LiteRT at one thread), measured once the 30 s window is full:
the steady state of a live stream that has been playing for a while.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from music import BLOCK_S, CHANNELS, RATE_HZ, blocks

WINDOW_S = 30.0


def make_session(kind: str, name: str, *, analyze_from_s: float = 0.0) -> Any:
    """A fresh ``ours`` (the analyzer's Session) or ``naive`` (NaiveSession) session."""
    if kind == "ours":
        from streamchill.analyzer.session import Session

        return Session(name, sample_rate_hz=RATE_HZ, channels=CHANNELS)
    from naive import NaiveSession

    return NaiveSession(
        name, sample_rate_hz=RATE_HZ, channels=CHANNELS, analyze_from_s=analyze_from_s
    )


@dataclass(frozen=True)
class StreamCost:
    """Steady-state cost of one live stream."""

    cpu_ms_per_audio_s: float
    """CPU milliseconds spent per second of audio analysed."""
    measured_audio_s: float
    hops: int
    cpu_s: float
    wall_s: float
    hop_cpu_p50_ms: float
    """CPU of a ``feed`` call that completes a hop (the floor of that hop's latency)."""
    hop_cpu_p99_ms: float
    hop_cpu_max_ms: float

    @property
    def streams_per_core(self) -> float:
        """Real-time streams one core sustains at this cost."""
        return 1000.0 / self.cpu_ms_per_audio_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "streams_per_core": self.streams_per_core}


def stream_cost(
    kind: str, audio: np.ndarray, *, measure_from_s: float = WINDOW_S
) -> tuple[StreamCost, dict[float, int]]:
    """Feed ``audio`` block by block; time the blocks from ``measure_from_s`` on.

    Also returns, for every event, the index of the block whose feed returned it (keyed by
    the event's ``media_time_s``): the frame that completes that hop, which the daemon
    latency benchmark times from.
    """
    session = make_session(kind, f"cpu-{kind}", analyze_from_s=measure_from_s)
    chunks = blocks(audio)
    first = round(measure_from_s / BLOCK_S)
    if first >= len(chunks):
        raise ValueError("audio is shorter than the warm-up")
    hop_blocks: dict[float, int] = {}
    hop_cpu: list[float] = []
    cpu0 = wall0 = 0.0
    for i, chunk in enumerate(chunks):
        if i == first:
            cpu0, wall0 = time.process_time(), time.perf_counter()
        before = time.process_time()
        events = session.feed(chunk)
        if events and i >= first:
            hop_cpu.append(1000.0 * (time.process_time() - before))
        for event in events:
            hop_blocks[round(event.media_time_s, 3)] = i
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    audio_s = sum(len(c) for c in chunks[first:]) / RATE_HZ
    cost = StreamCost(
        cpu_ms_per_audio_s=1000.0 * cpu / audio_s,
        measured_audio_s=audio_s,
        hops=len(hop_cpu),
        cpu_s=cpu,
        wall_s=wall,
        hop_cpu_p50_ms=float(np.percentile(hop_cpu, 50)),
        hop_cpu_p99_ms=float(np.percentile(hop_cpu, 99)),
        hop_cpu_max_ms=max(hop_cpu),
    )
    return cost, hop_blocks


def first_estimate(kind: str, audio: np.ndarray, *, limit_s: float = 15.0) -> dict[str, Any]:
    """Input audio (s) fed when the first estimate came out, and when the first settled one
    (``warming_up`` false) did; block granularity is 0.1 s."""
    session = make_session(kind, f"first-{kind}")
    out: dict[str, Any] = {"first_input_s": None, "first_media_s": None, "settled_input_s": None}
    fed = 0
    for chunk in blocks(audio):
        fed += len(chunk)
        for event in session.feed(chunk):
            if out["first_input_s"] is None:
                out["first_input_s"] = round(fed / RATE_HZ, 3)
                out["first_media_s"] = round(event.media_time_s, 3)
            if not event.warming_up and out["settled_input_s"] is None:
                out["settled_input_s"] = round(fed / RATE_HZ, 3)
        if out["settled_input_s"] is not None or fed / RATE_HZ >= limit_s:
            break
    return out


def patch_cost_ms(repeats: int = 10) -> float:
    """CPU ms of one musicnn patch on this core right now (context for the other figures)."""
    from streamchill.analyzer.models_bundle import shared_models

    tagger = shared_models().tagger
    x = np.random.default_rng(0).normal(size=(1, 187, 96)).astype(np.float32)
    tagger.predict(x)
    t0 = time.process_time()
    for _ in range(repeats):
        tagger.predict(x)
    return 1000.0 * (time.process_time() - t0) / repeats
