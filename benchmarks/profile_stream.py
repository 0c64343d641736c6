"""Where the streaming path spends its CPU: cProfile on CPU time, per stage and per function.

``python benchmarks/profile_stream.py [--seconds 60]`` prints the breakdown; ``run.py``
calls :func:`profile_stream` when the per-stream CPU target is missed. The profiler's
clock is ``time.process_time``, so time spent waiting for a busy, shared core is not
charged to the code (profiling overhead is, a few percent).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from typing import Any

from music import RATE_HZ, blocks, music


def _stages() -> dict[str, list[Any]]:
    """Stages of ``Session.feed``, each the cumulative time of these functions."""
    from streamchill.analyzer import audio, edge, features, mel, model, ring, session

    s = session.Session
    return {
        "CNN (MusicnnTagger.predict)": [model.MusicnnTagger.predict],
        "mel frames (MelFrameStream.push)": [mel.MelFrameStream.push],
        "danceability (DFA, every 10 s)": [features.danceability],
        "tempo (TempoTracker.push + bpm)": [features.TempoTracker.push, features.TempoTracker.bpm],
        "ring buffers (Ring.push)": [ring.Ring.push],
        "edge (decode, mono, resample)": [
            edge.AudioEdge._array,
            audio.PcmDecoder.decode,
            audio.to_mono,
            audio.Resampler.process,
        ],
        "change + steady detection": [s._detect_change, s._steady_kind],
        "loudness + hop power": [features.loudness_features, features.HopPowerMeter.push],
    }


def profile_stream(audio_s: float = 60.0, top: int = 12) -> dict[str, Any]:
    """Profile one analyzer ``Session`` over ``audio_s`` of music in 100 ms blocks."""
    from streamchill.analyzer.models_bundle import shared_models
    from streamchill.analyzer.session import Session

    shared_models()  # loading is not the streaming path
    chunks = blocks(music(audio_s))
    session = Session("profile", sample_rate_hz=RATE_HZ, channels=2, keep_history=True)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for chunk in chunks:
        session.feed(chunk)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total_s = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    seconds = sum(len(c) for c in chunks) / RATE_HZ

    def row(name: str, calls: int, spent_s: float) -> dict[str, Any]:
        return {
            "function": name,
            "calls": calls,
            "total_ms": round(1000 * spent_s, 1),
            "ms_per_call": round(1000 * spent_s / max(calls, 1), 3),
            "ms_per_audio_s": round(1000 * spent_s / seconds, 2),
            "share": round(spent_s / total_s, 3),
        }

    stages = []
    for stage, funcs in _stages().items():
        keys = [(f.__code__.co_filename, f.__code__.co_firstlineno, f.__code__.co_name)
                for f in funcs]  # fmt: skip
        calls = sum(raw[k][1] for k in keys if k in raw)
        spent = sum(raw[k][3] for k in keys if k in raw)
        stages.append(row(stage, calls, spent))
    functions = []
    for (filename, line, func), (_cc, nc, tt, _ct, _callers) in sorted(
        raw.items(), key=lambda kv: kv[1][2], reverse=True
    )[:top]:
        where = filename.split("site-packages/")[-1].split("/main/")[-1]
        functions.append(row(f"{where}:{line}({func})", nc, tt))
    assert session.history is not None
    resizes = sum(nc for (f, _l, fn), (_c, nc, *_r) in raw.items() if fn == "allocate_tensors")
    return {
        "audio_s": round(seconds, 1),
        "cpu_ms_per_audio_s": round(1000 * total_s / seconds, 2),
        "patches_judged": len(session.history),
        "patches_per_audio_s": round(len(session.history) / seconds, 3),
        "cnn_batch_resizes": resizes,
        "stages": stages,
        "top_functions": functions,
    }


def format_profile(p: dict[str, Any]) -> str:
    """A readable breakdown, stages then functions by own time."""
    lines = [
        f"profile of the streaming path: {p['audio_s']} s of music, "
        f"{p['cpu_ms_per_audio_s']} ms CPU per audio s (under the profiler), "
        f"{p['patches_judged']} patches judged ({p['patches_per_audio_s']}/s), "
        f"{p['cnn_batch_resizes']} CNN batch resizes",
        f"  {'stage (cumulative)':<44}{'calls':>7}{'ms/call':>10}{'ms/audio s':>12}{'share':>8}",
    ]
    for r in p["stages"]:
        lines.append(f"  {r['function']:<44}{r['calls']:>7}{r['ms_per_call']:>10.3f}"
                     f"{r['ms_per_audio_s']:>12.2f}{r['share']:>8.1%}")  # fmt: skip
    lines.append(f"  {'function (own time)':<60}{'calls':>7}{'ms/call':>10}{'share':>8}")
    for r in p["top_functions"]:
        lines.append(f"  {r['function'][:60]:<60}{r['calls']:>7}{r['ms_per_call']:>10.3f}"
                     f"{r['share']:>8.1%}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="music to stream (s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from machine import allowed_cores, pin

    pin(allowed_cores()[-1])
    result = profile_stream(args.seconds)
    print(json.dumps(result, indent=2) if args.json else format_profile(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
