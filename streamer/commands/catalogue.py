"""``streamchill catalogue``: judge a whole catalogue on Ray, verdicts to Parquet.

Needs the ``cluster`` extra (``pip install 'streamchill[cluster]'``). One row per file in
``--out`` (hive-partitioned Parquet); a rerun judges only new or changed files. The summary
goes to stdout (JSON when piped), progress to stderr on a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streamchill.streamer.commands.analyze import MEDIA_SUFFIXES


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="audio files or folders (walked)"
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a text file naming one audio file per line (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("catalogue.parquet"),
        metavar="DIR",
        help="the Parquet folder to write and resume from (default: ./catalogue.parquet)",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="join this Ray cluster (host:port, or 'auto'); default: a local Ray on this machine",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker actors, one core and one loaded model each (default: every CPU Ray has)",
    )
    parser.add_argument("--json", action="store_true", help="JSON summary even on a terminal")


def run(args: argparse.Namespace) -> int:
    if not args.paths and not args.manifest:
        print("streamchill: error: give folders, files or --manifest FILE", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("streamchill: error: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        from streamchill.streamer.catalogue.files import list_files
        from streamchill.streamer.catalogue.run import run_catalogue
    except ImportError as exc:
        print(
            f"streamchill: error: catalogue needs the cluster extra ({exc.name} is missing):"
            " pip install 'streamchill[cluster]'",
            file=sys.stderr,
        )
        return 2
    from streamchill.streamer.errors import StreamerError

    try:
        files = list_files(args.paths, suffixes=MEDIA_SUFFIXES, manifests=args.manifest)
        progress = _progress(len(files)) if sys.stderr.isatty() else None
        summary = run_catalogue(
            files, args.out, address=args.address, workers=args.workers, on_row=progress
        )
    except StreamerError as exc:
        print(f"streamchill: error: {exc}", file=sys.stderr)
        return 1
    if args.json or not sys.stdout.isatty():
        print(json.dumps({"out": str(args.out), **summary.to_dict()}), flush=True)
    else:
        print(summary.text())
        print(f"rows in {args.out}/ (pyarrow.dataset.dataset(..., partitioning='hive'))")
    return 0


def _progress(total: int) -> Any:
    done = failed = 0

    def show(_file: Any, row: dict[str, Any]) -> None:
        nonlocal done, failed
        done += 1
        failed += row["status"] != "ok"
        end = "\n" if done == total else ""
        sys.stderr.write(f"\rjudged {done}/{total} files ({failed} failed){end}")
        sys.stderr.flush()

    return show
