"""Where the analysis spends its CPU: cProfile on CPU time, per stage and per function.

``python benchmarks/profile_stream.py [--seconds 60]`` prints the breakdown of a live stream;
``run.py`` calls :func:`profile_stream` when the per-stream CPU target is missed. The
profiler's clock is ``time.process_time``, so time spent waiting for a busy, shared core is
not charged to the code (profiling overhead is, a few percent).

``--cnn stand-in`` profiles everything *but* the network: a first, unprofiled pass records
the real network's outputs for every patch it judges, and the profiled pass replays them
(:class:`RecordedTagger`, a stand-in in this profiler only, ~0.2 ms a patch). The patch
schedule, states and features are then exactly those of the real run, and what remains is
the cost around the network (a cheap student backbone the bundle runs too stays real, in
the CNN row). ``--batch`` profiles ``streamchill analyze``'s path
instead: an MP3 file of the same music decoded in 1 s blocks (decoding on this thread, so
the profile sees it), the session, and the summary.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from music import RATE_HZ, music


class RecordedTagger:
    """Stand-in for the CNN, in this profiler only: replays recorded outputs by patch content.

    ``record`` (the default) runs the real tagger and remembers its outputs under a hash of
    each patch; ``replay`` answers from that memory, so a second pass over the same audio
    judges exactly as the real network did at almost no cost. A patch never seen runs the
    real network (counted in ``misses``).
    """

    def __init__(self, real: Any) -> None:
        self._real = real
        self.tag_names = real.tag_names
        self._memory: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.replay = False
        self.misses = 0

    def predict(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(patches, dtype=np.float32)
        key = hashlib.blake2b(x.tobytes(), digest_size=16).digest()
        if self.replay and key in self._memory:
            tags, emb = self._memory[key]
            return tags.copy(), emb.copy()
        self.misses += self.replay
        tags, emb = self._real.predict(x)
        self._memory[key] = (tags.copy(), emb.copy())
        return tags, emb


def _stages(batch: bool = True) -> dict[str, list[Any]]:
    """Stages of the analysis, each the cumulative time of these functions."""
    from streamchill.analyzer import (
        audio,
        danceability,
        edge,
        features,
        mel,
        ring,
        session,
        signal_checks,
    )
    from streamchill.analyzer import summary as summary_mod
    from streamchill.streamer.sources import decode

    s = session.Session
    stages: dict[str, list[Any]] = {
        "CNN (tagger.predict)": [RecordedTagger.predict, *_tagger_predicts()],
        "mel frames (MelFrameStream.push)": [mel.MelFrameStream.push],
        "danceability (DFA sums + every 10 s)": [
            danceability.DanceabilityMeter.push,
            danceability.DanceabilityMeter.value,
        ],
        "tempo (TempoTracker.push + bpm)": [features.TempoTracker.push, features.TempoTracker.bpm],
        "ring buffers (Ring.push)": [ring.Ring.push],
        "edge (decode, mono, resample)": [
            edge.AudioEdge._array,
            audio.PcmDecoder.decode,
            audio.to_mono,
            audio.Resampler.process,
        ],
        "  of which soxr resampling": [audio.Resampler.process],
        "change (novelty, per hop)": [s._detect_change],
        "steady-tone checks (hop + patch)": [signal_checks.steady_kind],
        "loudness + hop power": [features.loudness_features, features.HopPowerMeter.push],
        "event building (Session._hop, all)": [s._hop],
    }
    if batch:
        stages["file decode (AudioFile.blocks)"] = [decode.AudioFile.blocks]
        stages["summary (summarize)"] = [summary_mod.summarize]
    return stages


def _tagger_predicts() -> list[Any]:
    """Every backbone class's ``predict`` the runtime may use (the cascade's too, if any)."""
    from streamchill.analyzer import model

    found = []
    for name in dir(model):
        obj = getattr(model, name)
        if isinstance(obj, type) and callable(getattr(obj, "predict", None)):
            found.append(obj.predict)
    return found


def _models(cnn: str) -> tuple[Any, RecordedTagger | None]:
    import dataclasses

    from streamchill.analyzer.models_bundle import shared_models

    real = shared_models()
    if cnn == "real":
        return real, None
    # Only the musicnn teacher is replaced; any cheap backbone the bundle also runs stays real.
    stand_in = RecordedTagger(real.tagger)
    return dataclasses.replace(real, tagger=stand_in), stand_in


def _warm_up() -> None:
    """Load what is loaded once per process (essentia, the mel matrix): not the streaming path."""
    from streamchill.analyzer.features import danceability
    from streamchill.analyzer.mel import mel_frames

    mel_frames(np.zeros(16_000, np.float32))
    danceability(np.zeros(16_000 * 3, np.float32))


def _profiled(run: Callable[[], Any]) -> tuple[pstats.Stats, float]:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    return stats, max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]


def _table(stats: pstats.Stats, total_s: float, seconds: float, top: int, batch: bool) -> dict:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]

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
    for stage, funcs in _stages(batch).items():
        keys = {(f.__code__.co_filename, f.__code__.co_firstlineno, f.__code__.co_name)
                for f in funcs}  # fmt: skip
        calls = sum(raw[k][1] for k in keys if k in raw)
        spent = sum(raw[k][3] for k in keys if k in raw)
        stages.append(row(stage, calls, spent))
    functions = []
    for (filename, line, func), (_cc, nc, tt, _ct, _callers) in sorted(
        raw.items(), key=lambda kv: kv[1][2], reverse=True
    )[:top]:
        where = filename.split("site-packages/")[-1]
        for room in ("/analyzer/", "/streamer/", "/benchmarks/"):
            if room in where:
                where = room.strip("/") + "/" + where.split(room)[-1]
        functions.append(row(f"{where}:{line}({func})", nc, tt))
    resizes = sum(nc for (f, _l, fn), (_c, nc, *_r) in raw.items() if fn == "allocate_tensors")
    return {
        "audio_s": round(seconds, 1),
        "cpu_ms_per_audio_s": round(1000 * total_s / seconds, 2),
        "cnn_batch_resizes": resizes,
        "stages": stages,
        "top_functions": functions,
    }


def profile_stream(
    audio_s: float = 60.0,
    top: int = 12,
    *,
    cnn: str = "real",
    rate_hz: int = RATE_HZ,
    block_s: float = 0.1,
    timed_runs: int = 0,
    wire: bool = False,
) -> dict[str, Any]:
    """Profile one analyzer ``Session`` over ``audio_s`` of music fed in ``block_s`` blocks."""
    from streamchill.analyzer.session import Session

    models, stand_in = _models(cnn)
    _warm_up()
    samples = _at_rate(music(audio_s), rate_hz)
    step = max(1, round(block_s * rate_hz))
    chunks: list[Any] = [samples[i : i + step] for i in range(0, len(samples), step)]
    if wire:  # interleaved f32le bytes, as the extension's frames arrive at the daemon
        chunks = [c.astype("<f4").tobytes() for c in chunks]

    def run() -> Session:
        session = Session("profile", sample_rate_hz=rate_hz, channels=2, models=models,
                          keep_history=True)  # fmt: skip
        for chunk in chunks:
            session.feed(chunk)
        return session

    if stand_in is not None:
        run()  # record the real network's outputs
        stand_in.replay = True
    sessions: list[Session] = []
    stats, total_s = _profiled(lambda: sessions.append(run()))
    history = sessions[0].history
    assert history is not None
    result = _table(stats, total_s, len(samples) / rate_hz, top, batch=False)
    result.update(_describe("stream", cnn, rate_hz, block_s, len(history), stand_in))
    result["wire"] = wire
    result["unprofiled_ms_per_audio_s"] = _timed(run, timed_runs, len(samples) / rate_hz)
    return result


def profile_batch(
    audio_s: float = 60.0, top: int = 12, *, cnn: str = "real", timed_runs: int = 0
) -> dict[str, Any]:
    """Profile ``streamchill analyze``'s per-file path on an MP3 file of ``audio_s`` music."""
    from streamchill.analyzer.session import Session
    from streamchill.analyzer.summary import summarize
    from streamchill.streamer.batch import BATCH_BLOCK_S
    from streamchill.streamer.sources.decode import open_audio

    models, stand_in = _models(cnn)
    _warm_up()
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        path = Path(tmp) / "music.mp3"
        _write_mp3(path, music(audio_s), RATE_HZ)
        judged: list[int] = []

        def run() -> None:
            # What analyze_audio does, with the decoder on this thread so the profile sees it.
            with open_audio(path) as audio:
                rate, channels = audio.sample_rate_hz, audio.channels
                session = Session(str(path), sample_rate_hz=rate, channels=channels,
                                  models=models, keep_history=True)  # fmt: skip
                events = []
                for block in audio.blocks(BATCH_BLOCK_S):
                    events += session.feed(block)
                events += session.finish()
            assert session.history is not None
            summarize(events, session.history, models.calm, duration_s=audio_s,
                      silence_db=session.config.silence_db)  # fmt: skip
            judged.append(len(session.history))

        if stand_in is not None:
            run()
            stand_in.replay = True
        judged.clear()
        stats, total_s = _profiled(run)
        timed = _timed(run, timed_runs, audio_s)
    result = _table(stats, total_s, audio_s, top, batch=True)
    result.update(_describe("batch", cnn, RATE_HZ, BATCH_BLOCK_S, judged[0], stand_in))
    result["unprofiled_ms_per_audio_s"] = timed
    return result


def _timed(run: Callable[[], Any], runs: int, audio_s: float) -> list[float]:
    """CPU ms per audio second of ``runs`` passes without the profiler (its overhead is
    large for many small calls, so these are the figures to compare)."""
    out = []
    for _ in range(runs):
        cpu0 = time.process_time()
        run()
        out.append(round(1000 * (time.process_time() - cpu0) / audio_s, 2))
    return out


def _describe(
    kind: str, cnn: str, rate_hz: int, block_s: float, judged: int, stand_in: RecordedTagger | None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "cnn": cnn,
        "rate_hz": rate_hz,
        "block_s": block_s,
        "patches_judged": judged,
        "stand_in_misses": stand_in.misses if stand_in is not None else None,
    }


def _at_rate(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """The 44.1 kHz music at another rate (resampled once, outside the profile)."""
    if rate_hz == RATE_HZ:
        return samples
    import soxr

    return np.ascontiguousarray(soxr.resample(samples, RATE_HZ, rate_hz), dtype=np.float32)


def _write_mp3(path: Path, samples: np.ndarray, rate_hz: int) -> None:
    """Encode stereo float32 samples as MP3 (LAME, 192 kbit/s): a song file as people have them."""
    import av

    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libmp3lame", rate=rate_hz, layout="stereo")
        stream.bit_rate = 192_000
        step = 4096
        for i in range(0, len(samples), step):
            planar = np.ascontiguousarray(samples[i : i + step].T)
            frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
            frame.sample_rate = rate_hz
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def format_profile(p: dict[str, Any]) -> str:
    """A readable breakdown, stages then functions by own time."""
    what = "music" if p.get("kind", "stream") == "stream" else "an MP3 file of music"
    lines = [
        f"profile of the {p.get('kind', 'stream')} path: {p['audio_s']} s of {what} at "
        f"{p.get('rate_hz', RATE_HZ)} Hz in {p.get('block_s', 0.1)} s blocks, CNN "
        f"{p.get('cnn', 'real')}: {p['cpu_ms_per_audio_s']} ms CPU per audio s (under the "
        f"profiler), {p['patches_judged']} patches judged, "
        f"{p['cnn_batch_resizes']} CNN batch resizes",
        f"  {'stage (cumulative)':<44}{'calls':>7}{'ms/call':>10}{'ms/audio s':>12}{'share':>8}",
    ]
    for r in p["stages"]:
        lines.append(f"  {r['function']:<44}{r['calls']:>7}{r['ms_per_call']:>10.3f}"
                     f"{r['ms_per_audio_s']:>12.2f}{r['share']:>8.1%}")  # fmt: skip
    if p.get("unprofiled_ms_per_audio_s"):
        runs = sorted(p["unprofiled_ms_per_audio_s"])
        lines.append(f"  without the profiler: {runs[0]} ms CPU per audio s (min of {len(runs)}; "
                     f"median {runs[len(runs) // 2]})")  # fmt: skip
    lines.append(f"  {'function (own time)':<60}{'calls':>7}{'ms/call':>10}{'share':>8}")
    for r in p["top_functions"]:
        lines.append(f"  {r['function'][:60]:<60}{r['calls']:>7}{r['ms_per_call']:>10.3f}"
                     f"{r['share']:>8.1%}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="music to analyse (s)")
    parser.add_argument(
        "--cnn",
        choices=("real", "stand-in"),
        default="real",
        help="stand-in: replay the real network's recorded outputs (profiles the rest)",
    )
    parser.add_argument("--rate", type=int, default=RATE_HZ, help="stream sample rate (Hz)")
    parser.add_argument("--block-s", type=float, default=0.1, help="stream block length (s)")
    parser.add_argument("--wire", action="store_true", help="feed f32le bytes, not arrays")
    parser.add_argument("--batch", action="store_true", help="profile `analyze` on a file")
    parser.add_argument("--top", type=int, default=12, help="functions listed")
    parser.add_argument("--timed-runs", type=int, default=0, help="extra unprofiled passes")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from machine import allowed_cores, pin

    pin(allowed_cores()[-1])
    if args.batch:
        result = profile_batch(args.seconds, args.top, cnn=args.cnn, timed_runs=args.timed_runs)
    else:
        result = profile_stream(
            args.seconds,
            args.top,
            cnn=args.cnn,
            rate_hz=args.rate,
            block_s=args.block_s,
            timed_runs=args.timed_runs,
            wire=args.wire,
        )
    print(json.dumps(result, indent=2) if args.json else format_profile(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
