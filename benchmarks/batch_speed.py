"""Batch analysis speed, as a multiple of real time, on one core and on every core.

One worker process (``spawn``) per core, each pinned to its core. A worker decodes the
music, loads the models and warms both analyzers up once; then every run sends chosen
workers the same start time, so only analysis is timed. ``ours`` is
``streamchill.streamer.batch.analyze_audio`` (what ``streamchill analyze`` runs per file, summary
included); ``naive`` streams the same audio through :class:`naive.NaiveSession`.

Speed = seconds of audio analysed by all workers / wall seconds from the start to the
last worker's end. On a shared machine the wall clock includes waiting for a busy core,
so the CPU-time speed (audio seconds / CPU seconds of the workers) is reported too: it
is what one dedicated core would do.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
START_DELAY_S = 0.3
"""Workers start this long after the command is sent, all at the same moment."""


def _analyze(kind: str, audio: Any, name: str) -> None:
    if kind == "ours":
        from streamchill.streamer.batch import analyze_audio

        analyze_audio(name, audio)
        return
    from music import BLOCK_S
    from naive import NaiveSession

    session = NaiveSession(name, sample_rate_hz=audio.sample_rate_hz, channels=audio.channels)
    for block in audio.blocks(BLOCK_S):
        session.feed(block)
    session.finish()


def _worker(core: int | None, audio_s: float, commands: Any, results: Any) -> None:
    sys.path.insert(0, str(HERE))
    from machine import pin
    from music import RATE_HZ, music
    from streamchill.streamer.sources.decode import DecodedAudio

    if core is not None:
        pin(core)
    audio = DecodedAudio(samples=music(audio_s), sample_rate_hz=RATE_HZ)
    warm = DecodedAudio(samples=music(4.0), sample_rate_hz=RATE_HZ)
    for kind in ("ours", "naive"):
        _analyze(kind, warm, "warm-up")
    results.put({"ready": core})
    while (command := commands.get()) is not None:
        kind, jobs, start_at = command
        while (delay := start_at - time.monotonic()) > 0:
            time.sleep(delay)
        cpu0 = time.process_time()
        for i in range(jobs):
            _analyze(kind, audio, f"job-{i}")
        results.put({"core": core, "cpu_s": time.process_time() - cpu0,
                     "audio_s": audio_s * jobs, "end": time.monotonic()})  # fmt: skip


class BatchPool:
    """Warm, pinned worker processes, one per core; a context manager."""

    def __init__(self, cores: list[int], *, audio_s: float) -> None:
        ctx = mp.get_context("spawn")
        self._results = ctx.Queue()
        self._commands = [ctx.Queue() for _ in cores]
        self._procs = [
            ctx.Process(target=_worker, args=(c, audio_s, q, self._results), daemon=True)
            for c, q in zip(cores, self._commands, strict=True)
        ]
        for p in self._procs:
            p.start()
        for _ in self._procs:
            self._results.get(timeout=300)

    def __enter__(self) -> BatchPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for q in self._commands:
            q.put(None)
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()

    def run(self, kind: str, workers: int, jobs: int) -> dict[str, Any]:
        """``jobs`` files on each of the first ``workers`` workers at once; speeds."""
        start_at = time.monotonic() + START_DELAY_S
        for q in self._commands[:workers]:
            q.put((kind, jobs, start_at))
        done = [self._results.get(timeout=1800) for _ in range(workers)]
        wall = max(d["end"] for d in done) - start_at
        audio = sum(d["audio_s"] for d in done)
        cpu = sum(d["cpu_s"] for d in done)
        return {
            "workers": workers,
            "audio_s": audio,
            "wall_s": wall,
            "cpu_s": cpu,
            "x_realtime": audio / wall,
            # As if every worker had its core to itself.
            "x_realtime_cpu": audio / (cpu / workers),
        }
