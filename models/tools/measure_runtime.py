"""Measure what the shipped musicnn backbone costs on this machine (runtime venv, no TF).

    .venv/bin/python models/tools/measure_runtime.py [--runs 200] [--threads 1]

Prints the interpreter load time (median of several fresh loads) and the time of one 3 s
patch (median of ``--runs`` calls after a warm-up), for the numbers in MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from streamchill.analyzer.model import MODEL_VERSION, MusicnnTagger


def main() -> None:
    """Time loading and single-patch inference, and print the medians in ms."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed single-patch calls")
    parser.add_argument("--loads", type=int, default=10, help="timed fresh interpreter loads")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads")
    args = parser.parse_args()

    load_ms = []
    for _ in range(args.loads):
        t0 = time.perf_counter()
        tagger = MusicnnTagger.load(num_threads=args.threads)
        load_ms.append((time.perf_counter() - t0) * 1e3)

    patch = np.random.default_rng(0).uniform(0, 3, (1, 187, 96)).astype(np.float32)
    for _ in range(10):
        tagger.predict(patch)
    wall, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        tagger.predict(patch)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)

    print(f"model {MODEL_VERSION}  file {tagger.path.stat().st_size / 1e6:.2f} MB")
    print(f"cpu count {os.cpu_count()}  load average {os.getloadavg()[0]:.2f}")
    print(f"interpreter load: median {statistics.median(load_ms):.1f} ms over {args.loads}")
    print(
        f"one patch, {args.threads} thread(s): median {statistics.median(wall):.1f} ms wall, "
        f"{statistics.median(cpu):.1f} ms CPU, min {min(wall):.1f} ms over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
