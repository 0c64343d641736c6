"""Stream & Chill benchmarks against a naive baseline, in one run.

    python benchmarks/run.py [--quick] [--skip daemon,batch,transitions] [--lockstep] [--out FILE]

Measures, for the shipped analyzer ("ours") and for a naive analyzer that recomputes the
whole 30 s window every hop (``naive.py``), in the same run: streaming CPU per second of
audio and real-time streams per core; hop-to-subscriber latency through the real daemon
with 1 and many streams; audio needed before the first estimate; batch speed on one core
and on all cores; daemon memory; how quickly the state follows changes of music and how
often it flips in between (``transitions.py``: seeds 0-31, 64-127 that no state rule
was tuned on, and 0-191 pooled for a per-kind p90 on 11+ changes a kind; against a 30 s
average with fixed thresholds). Prints a table (figure, ours, naive, gain, target,
pass) and writes ``benchmarks/results/latest.json``. Method: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from machine import ROOT, allowed_cores, describe, load_average, pin
from report import Row, table

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
POOLED_TRANSITIONS = {"sequences": 192, "pieces": 9, "first_seed": 0}
"""The three default samples (seeds 0-31, 64-127, 128-191) and the seeds between, as one:
3-17 changes a kind in one sample make a kind's p90 its worst change or two; 11-86 here."""

# Sizes: the full run fits in ~18 minutes on a busy 2-core machine, --quick in ~3.
FULL = {
    "ours_audio_s": 90.0,  # 30 s to fill the window + 60 s measured
    "naive_audio_s": 50.0,  # 30 s stored (not analysed) + 20 s measured
    "batch_audio_s": 30.0,
    "batch_jobs": {"ours": 3, "naive": 1},
    "phases": [(1, 32.0), (10, 32.0), (50, 20.0)],
}
QUICK = {
    "ours_audio_s": 45.0,
    "naive_audio_s": 35.0,
    "batch_audio_s": 15.0,
    "batch_jobs": {"ours": 3, "naive": 1},
    "phases": [(1, 12.0), (5, 10.0), (10, 10.0)],
}
TARGETS = {
    "cpu_ms_per_audio_s": 10.0,
    "streams_per_core": 100.0,
    "gain_vs_naive": 20.0,
    "p99_one_ms": 30.0,
    "p99_many_ms": 100.0,
    "first_estimate_s": 3.5,
    "batch_x_realtime": 100.0,
    "rss_one_mb": 300.0,
    "rss_per_extra_mb": 3.0,
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(size: dict[str, Any], skip: set[str], *, lockstep: bool = False) -> dict[str, Any]:
    """Run every benchmark; the raw results, keyed by benchmark then by ``ours``/``naive``."""
    from music import music, wire_blocks
    from streaming import first_estimate, patch_cost_ms, stream_cost

    cores = allowed_cores()
    work_core, client_core = cores[-1], cores[0]
    raw: dict[str, Any] = {"pinned": pin(work_core), "work_core": work_core}
    log(f"streaming CPU cost, pinned to core {work_core} ({raw['pinned']=})")
    audio = music(size["ours_audio_s"])
    raw["patch_ms"] = patch_cost_ms()
    ours, hop_blocks = stream_cost("ours", audio)
    naive, _ = stream_cost("naive", audio[: round(size["naive_audio_s"] * 44_100)])
    raw["stream"] = {"ours": ours.as_dict(), "naive": naive.as_dict()}
    raw["first"] = {k: first_estimate(k, audio) for k in ("ours", "naive")}
    log(f"ours {ours.cpu_ms_per_audio_s:.1f} ms/s, naive {naive.cpu_ms_per_audio_s:.1f} ms/s")

    if "batch" not in skip:
        from batch_speed import BatchPool

        log(f"batch: warming {len(cores)} pinned workers")
        raw["batch"] = {"ours": {}, "naive": {}}
        with BatchPool(cores, audio_s=size["batch_audio_s"]) as pool:
            for kind in ("ours", "naive"):
                jobs = size["batch_jobs"][kind]
                log(f"batch ({kind}): one core, then {len(cores)} cores")
                raw["batch"][kind]["one"] = pool.run(kind, 1, jobs)
                raw["batch"][kind]["all"] = pool.run(kind, len(cores), jobs)

    if "daemon" not in skip:
        from daemon_load import Phase, daemon_figures

        phases = [Phase(n, s) for n, s in size["phases"]]
        wire = wire_blocks(audio)
        pin(client_core)  # the client must not steal the daemon's core
        raw["daemon"] = {}
        for kind in ("ours", "naive"):
            log(f"daemon ({kind}) on core {work_core}: phases {size['phases']}")
            raw["daemon"][kind] = daemon_figures(
                kind, wire, hop_blocks, phases, core=work_core, lockstep=lockstep
            )
        pin(work_core)

    if "transitions" not in skip:
        import transitions

        size_t = transitions.QUICK if size is QUICK else transitions.FULL
        log(f"transitions: {size_t['sequences']} sequences of held-out pieces")
        raw["transitions"] = transitions.measure(size_t, log=log)
        if size is not QUICK:
            v = transitions.VALIDATION
            log(f"transitions: {v['sequences']} sequences from seed {v['first_seed']}, "
                "which no state rule was tuned on")  # fmt: skip
            raw["transitions_validation"] = transitions.measure(v, log=log)
            log("transitions: seeds 0-191 pooled, for the per-kind p90")
            raw["transitions_pooled"] = transitions.measure(POOLED_TRANSITIONS, log=log)

    if ours.cpu_ms_per_audio_s > TARGETS["cpu_ms_per_audio_s"] and "profile" not in skip:
        from profile_stream import profile_stream

        log("CPU target missed: profiling the streaming path")
        raw["profile"] = profile_stream(min(60.0, size["ours_audio_s"]))
    return raw


def rows(raw: dict[str, Any]) -> list[Row]:
    """The table's rows from the raw results."""
    t = TARGETS
    s = raw["stream"]
    out = [
        Row("streaming CPU per audio second", "ms", s["ours"]["cpu_ms_per_audio_s"],
            s["naive"]["cpu_ms_per_audio_s"], True, t["cpu_ms_per_audio_s"],
            t["gain_vs_naive"], "window full"),
        Row("real-time streams per core", "streams", s["ours"]["streams_per_core"],
            s["naive"]["streams_per_core"], False, t["streams_per_core"]),
        Row("CPU of one hop, p50", "ms", s["ours"]["hop_cpu_p50_ms"],
            s["naive"]["hop_cpu_p50_ms"], True, note="in-process"),
        Row("CPU of one hop, max", "ms", s["ours"]["hop_cpu_max_ms"],
            s["naive"]["hop_cpu_max_ms"], True, note="in-process: the latency floor"),
        Row("audio before first estimate", "s", raw["first"]["ours"]["first_input_s"],
            raw["first"]["naive"]["first_input_s"], True, t["first_estimate_s"]),
        Row("audio before first settled estimate", "s",
            raw["first"]["ours"]["settled_input_s"], raw["first"]["naive"]["settled_input_s"],
            True),
    ]  # fmt: skip
    if "batch" in raw:
        b = raw["batch"]
        n = b["ours"]["all"]["workers"]
        for key, cores in (("one", "1 core"), (("all"), f"{n} cores")):
            o, v = b["ours"][key], b["naive"][key]
            target = t["batch_x_realtime"] if key == "one" else None
            out += [
                Row(f"batch analyze, {cores}, CPU time", "x realtime", o["x_realtime_cpu"],
                    v["x_realtime_cpu"], False, target),
                Row(f"batch analyze, {cores}, wall clock", "x realtime", o["x_realtime"],
                    v["x_realtime"], False),
            ]  # fmt: skip
    if "daemon" in raw:
        d = raw["daemon"]
        po, pn = d["ours"]["phases"], d["naive"]["phases"]
        for i, (a, b) in enumerate(zip(po, pn, strict=True)):
            note = f"{a['streams']} stream{'s' if a['streams'] > 1 else ''}"
            note += " in lockstep" if d["ours"].get("lockstep") and a["streams"] > 1 else ""
            target = t["p99_one_ms"] if i == 0 else t["p99_many_ms"] if i == 2 else None
            out += [
                Row("hop-to-subscriber latency p50", "ms", a["p50_ms"], b["p50_ms"], True,
                    note=note),
                Row("hop-to-subscriber latency p99", "ms", a["p99_ms"], b["p99_ms"], True,
                    target, note=note),
            ]  # fmt: skip
        out.append(
            Row("daemon streams whose analysis failed (daemon log)", "streams",
                d["ours"].get("analysis_failures"), d["naive"].get("analysis_failures"),
                True, 0.0)
        )  # fmt: skip
        n1 = po[1]["streams"]
        out += [
            Row("daemon RSS idle", "MB", d["ours"]["rss_idle_mb"], d["naive"]["rss_idle_mb"],
                True),
            Row("daemon RSS, models loaded, no stream", "MB", d["ours"]["rss_loaded_mb"],
                d["naive"]["rss_loaded_mb"], True),
            Row("daemon RSS with one stream", "MB", d["ours"]["rss_one_mb"],
                d["naive"]["rss_one_mb"], True, t["rss_one_mb"]),
            Row("daemon RSS per extra stream", "MB", d["ours"]["rss_per_extra_mb"],
                d["naive"]["rss_per_extra_mb"], True, t["rss_per_extra_mb"],
                note=f"1 -> {n1} streams"),
        ]  # fmt: skip
    if "transitions" in raw:
        import transitions

        validation = raw.get("transitions_validation")
        out += transitions.rows(raw["transitions"], "seeds 0-31" if validation else "")
        if validation:
            out += transitions.rows(validation, "seeds 64-127, not tuned on")
        if "transitions_pooled" in raw:
            out += transitions.rows(raw["transitions_pooled"], "seeds 0-191 pooled")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks against a naive baseline.")
    parser.add_argument("--quick", action="store_true", help="fewer streams, shorter audio")
    parser.add_argument(
        "--skip", default="", help="comma list of: batch, daemon, profile, transitions"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="daemon streams all play the music from its start, in step (a stress case)",
    )
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    command += " --lockstep" if args.lockstep else ""
    started = time.perf_counter()
    machine = describe()
    raw = measure(size, skip, lockstep=args.lockstep)
    machine["load_average_at_end"] = load_average()
    result_rows = rows(raw)
    elapsed = time.perf_counter() - started
    load = f"{machine['load_average_at_start']} -> {machine['load_average_at_end']}"
    print(f"\nStream & Chill benchmarks: `{command}` on {machine['cpu_model']}, "
          f"{machine['cores']} cores, Python {machine['python']}, {machine['date']}, "
          f"load average {load}")  # fmt: skip
    print(f"one musicnn patch on this core now: {raw['patch_ms']:.1f} ms CPU\n")
    print(table(result_rows))
    if "profile" in raw:
        from profile_stream import format_profile

        print("\n" + format_profile(raw["profile"]))
    print(f"\n{len(result_rows)} figures in {elapsed:.0f} s; JSON: {_shown(args.out)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": machine,
        "sizes": size,
        "targets": TARGETS,
        "figures": [r.as_dict() for r in result_rows],
        "raw": raw,
    }
    tmp = args.out.with_name(args.out.name + ".tmp")  # never leave a half-written file
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    tmp.replace(args.out)
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
