"""The Ray path (``streamchill catalogue``) against ``streamchill analyze --jobs``, same files,
same run, 1 and 2 workers: throughput per core.

The files are music (the shipped examples looped, ``music.py``) written as 44.1 kHz stereo
WAV, so both paths decode and judge the same bytes. Each path runs as the user runs it, a fresh
``streamchill`` process per measurement:

- ``analyze``: ``streamchill analyze --jobs N --json FILES``; wall time of the whole process
  (start-up and model load included: they are about a second).
- ``catalogue``: ``streamchill catalogue DIR --workers N`` with a fresh ``--out``; its own
  summary splits the wall time into ``startup_s`` (starting a local Ray, loading the model on
  every worker) and ``judging_s`` (first file handed out to last row written). The rate that
  a long run converges to is the judging one: start-up is paid once per run, not per file.

Per-core speed = audio seconds / (wall seconds x workers), in x real time. On a shared machine
the wall clock includes waiting for a busy core, so the CPU-time speed is reported too (audio
seconds / CPU seconds: the ``analyze`` process's, start-up included, from ``getrusage``; the Ray
workers' own count per file, start-up excluded): what one dedicated core would do. Usage:
``python benchmarks/catalogue.py [--files 8] [--file-s 60]``; results to
``benchmarks/results/catalogue.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from machine import describe
from music import CHANNELS, RATE_HZ, music

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "catalogue.json"
CLI = [sys.executable, "-m", "streamchill.streamer"]


def write_library(folder: Path, files: int, file_s: float) -> float:
    """``files`` WAVs of ``file_s`` seconds each, each cut from a different offset."""
    audio = music(files * file_s + 1)
    step = round(file_s * RATE_HZ)
    for i in range(files):
        pcm = (audio[i * step : (i + 1) * step].clip(-1, 1) * 32767).astype("<i2")
        with wave.open(str(folder / f"track-{i:03d}.wav"), "wb") as out:
            out.setnchannels(CHANNELS)
            out.setsampwidth(2)
            out.setframerate(RATE_HZ)
            out.writeframes(pcm.tobytes())
    return files * file_s


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_analyze(folder: Path, workers: int, audio_s: float) -> dict[str, Any]:
    cpu0 = _children_cpu_s()
    started = time.perf_counter()
    done = subprocess.run(
        [*CLI, "analyze", "--jobs", str(workers), "--json", str(folder)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    cpu = _children_cpu_s() - cpu0
    verdicts = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {"path": "analyze", "workers": workers, "files": len(verdicts), "audio_s": audio_s,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), **_speeds(audio_s, wall, workers),
            "x_realtime_cpu": round(audio_s / cpu, 1)}  # fmt: skip


def run_catalogue(folder: Path, workers: int, audio_s: float, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [*CLI, "catalogue", str(folder), "--workers", str(workers), "--out", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    summary = json.loads(done.stdout)
    judging = summary["judging_s"]
    return {
        "path": "catalogue", "workers": workers, "files": summary["ok"], "audio_s": audio_s,
        "wall_s": round(wall, 2), "startup_s": summary["startup_s"], "judging_s": judging,
        "cpu_s": summary["cpu_s"], **_speeds(audio_s, wall, workers),
        "x_realtime_cpu": round(audio_s / summary["cpu_s"], 1),
        "x_realtime_per_core_judging": round(audio_s / (judging * workers), 1),
    }  # fmt: skip


def _speeds(audio_s: float, wall_s: float, workers: int) -> dict[str, float]:
    return {
        "files_per_s": 0.0,  # filled by the caller, which knows the file count
        "x_realtime": round(audio_s / wall_s, 1),
        "x_realtime_per_core": round(audio_s / (wall_s * workers), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--file-s", type=float, default=60.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    machine = describe()  # before the runs: the load average is what the runs competed with
    rows = []
    with tempfile.TemporaryDirectory(prefix="catalogue-bench-") as tmp:
        folder = Path(tmp) / "library"
        folder.mkdir()
        audio_s = write_library(folder, args.files, args.file_s)
        for workers in args.workers:
            for row in (
                run_analyze(folder, workers, audio_s),
                run_catalogue(folder, workers, audio_s, Path(tmp) / f"out-{workers}"),
            ):
                wall = row["judging_s"] if row["path"] == "catalogue" else row["wall_s"]
                row["files_per_s"] = round(row["files"] / wall, 3)
                print(json.dumps(row), flush=True)
                rows.append(row)
    ratio = {
        w: _per_core(rows, "catalogue", w, "x_realtime_per_core_judging")
        / _per_core(rows, "analyze", w, "x_realtime_per_core")
        for w in args.workers
    }
    result = {
        "machine": machine,
        "input": {"files": args.files, "file_s": args.file_s, "format": "wav 44.1 kHz stereo"},
        "rows": rows,
        "catalogue_judging_vs_analyze_per_core": {str(w): round(r, 3) for w, r in ratio.items()},
        "catalogue_vs_analyze_per_cpu_second": {
            str(w): round(
                _per_core(rows, "catalogue", w, "x_realtime_cpu")
                / _per_core(rows, "analyze", w, "x_realtime_cpu"),
                3,
            )
            for w in args.workers
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _per_core(rows: list[dict[str, Any]], path: str, workers: int, key: str) -> float:
    return float(next(r[key] for r in rows if r["path"] == path and r["workers"] == workers))


if __name__ == "__main__":
    sys.exit(main())
