"""``streamchill analyze``: verdicts for files, directories and URLs.

JSON on stdout when piped (one object per input, one per line), a readable table when
stdout is a terminal; one clear line on stderr per bad input, exit code 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from streamchill.analyzer.events import MoodEvent
    from streamchill.streamer.batch import AnalysisResult

MEDIA_SUFFIXES = {
    ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".flac", ".wav", ".mp4", ".mkv",
    ".webm", ".mov", ".wma", ".aiff", ".aif", ".aifc", ".mka", ".m4b",
}  # fmt: skip


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="PATH_OR_URL",
        help="audio/video files, directories, URLs or YouTube ids",
    )
    parser.add_argument(
        "--events", action="store_true", help="print the live event sequence as JSON lines"
    )
    parser.add_argument(
        "--realtime", action="store_true", help="pace the input like playback (for demos)"
    )
    parser.add_argument("--jobs", "-j", type=int, default=1, help="inputs analysed in parallel")
    parser.add_argument("--json", action="store_true", help="JSON even on a terminal")  # fmt: skip


def expand_inputs(inputs: list[str]) -> list[str]:
    """Directories become their media files (sorted); everything else is kept as given."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(
                str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in MEDIA_SUFFIXES
            )
        else:
            out.append(item)
    return out


def run(args: argparse.Namespace) -> int:
    # Heavy imports here, not at module level: `streamchill --help` stays instant.
    from streamchill.analyzer.errors import AnalyzerError
    from streamchill.analyzer.models_bundle import shared_models, thread_models
    from streamchill.streamer.batch import analyze_source
    from streamchill.streamer.errors import StreamerError

    sources = expand_inputs(args.inputs)
    if not sources:
        print("streamchill: error: no media files found in the given inputs", file=sys.stderr)
        return 1
    as_json = args.json or not sys.stdout.isatty()
    progress = sys.stderr.isatty() and not args.events

    def emit(event: MoodEvent) -> None:
        print(event.to_json(), flush=True)

    def one(source: str) -> AnalysisResult | None:
        try:
            return analyze_source(
                source,
                realtime=args.realtime,
                on_event=emit if args.events else None,
                on_progress=_progress_bar(source) if progress else None,
                models=thread_models() if args.jobs > 1 else shared_models(),
            )
        except (StreamerError, AnalyzerError) as exc:
            print(f"streamchill: error: {exc}", file=sys.stderr, flush=True)
            return None

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, sources))
    failed = sum(r is None for r in results)
    for result in results:
        if result is None or args.events:
            continue
        if as_json:
            print(json.dumps({"source": result.source, **result.verdict}), flush=True)
        else:
            print_table(result, sys.stdout)
    return 1 if failed else 0


def _progress_bar(name: str) -> Any:
    def show(done_s: float, total_s: float) -> None:
        if not total_s:  # the container does not state its length: count seconds instead
            sys.stderr.write(f"\r{Path(name).name[:30]:30} {done_s:8.0f} s")
            return
        frac = min(1.0, done_s / total_s)
        bar = "#" * int(frac * 30)
        end = "\n" if done_s >= total_s else ""
        sys.stderr.write(f"\r{Path(name).name[:30]:30} [{bar:30}] {frac:4.0%}{end}")
        sys.stderr.flush()

    return show


def print_table(result: AnalysisResult, out: TextIO) -> None:
    """A readable summary: the verdict, a per-30 s table and a calm-probability timeline."""
    v = result.verdict
    p = v["calm_probability"]
    p_text = "n/a" if p is None else f"{p:.2f}"
    out.write(f"\n{result.source}\n  verdict: {v['state'].upper()}  (calm probability {p_text})\n")
    out.write("  start   end    state       calm   bpm    dance  dB-dev\n")
    for c in v["timestamps"]:
        cp = "  -  " if c["calm_probability"] is None else f"{c['calm_probability']:.2f}"
        bpm = f"{c['bpm']:6.1f}" if c["bpm"] else "     -"  # 0: no pulse found
        out.write(
            f"  {c['start']:5.0f} {c['end']:5.0f}   {c['state']:<10} {cp:>5} {bpm}"
            f" {c['danceability']:6.2f} {c['avg_db_deviation']:6.2f}\n"
        )
    line = "".join(_spark(e.calm_probability, e.state.value) for e in result.events)
    out.write(f"  calm timeline (1 char = 1 s; high = calm): {line}\n")


def _spark(p: float | None, state: str) -> str:
    if state == "silence":
        return " "
    if state == "speech":
        return "s"
    if p is None:  # a steady tone or noise: not music
        return "~"
    return "▁▂▃▄▅▆▇█"[min(7, int(p * 8))]
