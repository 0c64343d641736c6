"""A long file through ``streamchill analyze``: wall time and peak memory, against today's loader.

    python benchmarks/long_file.py [--minutes 60] [--out FILE]

The shipped music examples are looped to ``--minutes`` of audio and encoded, here, to Opus in
Ogg (what YouTube's best audio is) and to FLAC. Each file is analysed by the real CLI in a
fresh process (``python -m streamchill.streamer analyze``); its peak RSS comes from
``wait4``'s rusage of that very process. The baseline, in the same run, is the decoder this
project had before issue 18: essentia's AudioLoader reading the whole file into memory, then
the same session over the same blocks. It cannot read Opus, so it runs on the FLAC file.
Targets: peak RSS < 400 MB, and not slower per audio second than the baseline.
Writes ``benchmarks/results/long_file.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from machine import ROOT, describe
from music import CHANNELS, RATE_HZ, music

RESULTS = Path(__file__).resolve().parent / "results" / "long_file.json"
TARGET_RSS_MB = 400.0
CHUNK_S = 60.0
"""Audio synthesised and encoded per step: the benchmark itself stays small in memory too."""

BASELINE = """
import sys
from streamchill.analyzer.essentia_lib import essentia_standard
from streamchill.streamer.batch import analyze_audio
from streamchill.streamer.sources.decode import DecodedAudio
import numpy as np
audio, rate, channels, *_ = essentia_standard().AudioLoader(filename=sys.argv[1])()
samples = np.ascontiguousarray(np.asarray(audio, dtype=np.float32)[:, :channels])
print(analyze_audio(sys.argv[1], DecodedAudio(samples, int(rate))).verdict["state"])
"""


def encode(path: Path, container: str, codec: str, minutes: float) -> Path:
    """``minutes`` of looped example music, encoded one minute at a time."""
    import av

    loop = music(CHUNK_S)
    assert loop.shape[1] == CHANNELS
    rate = 48_000 if codec == "libopus" else RATE_HZ
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "stereo"
        convert = av.AudioResampler(format=stream.format.name, layout="stereo", rate=rate)
        planar = np.ascontiguousarray(loop.T)
        for i in range(max(1, round(minutes * 60 / CHUNK_S))):
            frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = RATE_HZ, i * planar.shape[1]
            for converted in convert.resample(frame):
                out.mux(stream.encode(converted))
        for converted in convert.resample(None):
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
    return path


def peak_rss_mb(pid: int) -> float:
    """VmHWM of /proc/<pid>/status: the high-water mark of this process image's memory.

    Not ``ru_maxrss``: Linux carries the pre-exec image's peak into it, and a child forked
    from this (large, after encoding) benchmark process starts as big as its parent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0  # the kernel reports kB
    return 0.0


def run_measured(argv: list[str]) -> dict[str, Any]:
    """Run ``argv``; its wall time, CPU time and peak RSS (VmHWM read every 50 ms until exit)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    peak = [0.0]

    def watch() -> None:
        with contextlib.suppress(OSError):  # the process has gone
            while proc.returncode is None:
                peak[0] = max(peak[0], peak_rss_mb(proc.pid))
                time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall_s = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    watcher.join(timeout=1)
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[-1]}: exit {proc.returncode}: {err.strip()[-500:]}")
    cpu_s = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall_s, "cpu_s": cpu_s, "peak_rss_mb": peak[0],
            "output": out.strip()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    audio_s = args.minutes * 60
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="streamchill-long-") as tmp:
        files = {
            "opus": encode(Path(tmp) / "long.opus", "ogg", "libopus", args.minutes),
            "flac": encode(Path(tmp) / "long.flac", "flac", "flac", args.minutes),
        }
        cli = [sys.executable, "-m", "streamchill.streamer", "analyze", "--json"]
        runs = [
            ("streamchill analyze (PyAV, streamed)", "opus", [*cli, str(files["opus"])]),
            ("streamchill analyze (PyAV, streamed)", "flac", [*cli, str(files["flac"])]),
            ("baseline: essentia AudioLoader, whole file", "flac",
             [sys.executable, "-c", BASELINE, str(files["flac"])]),
        ]  # fmt: skip
        for name, fmt, argv in runs:
            print(f"[{time.strftime('%H:%M:%S')}] {name} on {fmt} ...", file=sys.stderr)
            result = run_measured(argv)
            size_mb = files[fmt].stat().st_size / 1e6
            rows.append({"decoder": name, "format": fmt, "file_mb": size_mb, "audio_s": audio_s,
                         "x_realtime": audio_s / result["wall_s"],
                         "x_realtime_cpu": audio_s / result["cpu_s"], **result})  # fmt: skip
    base = rows[-1]
    for row in rows:
        row["output"] = row["output"][-200:]
        row["wall_per_audio_s_vs_baseline"] = row["wall_s"] / base["wall_s"]
        row["cpu_per_audio_s_vs_baseline"] = row["cpu_s"] / base["cpu_s"]
    print(f"{'decoder':44} {'fmt':5} {'audio':>7} {'wall':>8} {'cpu':>8} {'x rt cpu':>8} "
          f"{'peak RSS':>9}")  # fmt: skip
    for r in rows:
        print(
            f"{r['decoder']:44} {r['format']:5} {r['audio_s']:6.0f}s {r['wall_s']:7.1f}s "
            f"{r['cpu_s']:7.1f}s {r['x_realtime_cpu']:8.1f} {r['peak_rss_mb']:7.0f}MB"
        )
    ours = [r for r in rows if r is not base]
    passed = all(r["peak_rss_mb"] < TARGET_RSS_MB for r in ours)
    flac = ours[1]  # the format both can read
    print(f"target: peak RSS < {TARGET_RSS_MB:.0f} MB: {'PASS' if passed else 'FAIL'}; per audio "
          f"second vs baseline (flac): CPU {flac['cpu_per_audio_s_vs_baseline']:.2f}x, "
          f"wall {flac['wall_per_audio_s_vs_baseline']:.2f}x (the wall clock of a shared "
          "machine includes waiting for a core)")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"machine": describe(), "minutes": args.minutes, "target_rss_mb": TARGET_RSS_MB,
              "rss_pass": passed, "rows": rows}  # fmt: skip
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
