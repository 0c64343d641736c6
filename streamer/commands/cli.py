"""The ``streamchill`` command: wires subcommands to importable modules, nothing more."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes ``add_parser(subparsers)`` and ``run(args) -> int``. They are imported
# lazily by name so ``streamchill --help`` never loads essentia or LiteRT.
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": (
        "streamchill.streamer.commands.analyze",
        "analyse files or URLs and print the verdict",
    ),
    "catalogue": (
        "streamchill.streamer.commands.catalogue",
        "judge a whole catalogue on a Ray cluster, verdicts to Parquet",
    ),
    "daemon": (
        "streamchill.streamer.commands.daemon",
        "run the local server: live analysis for the extension",
    ),
    "devices": (
        "streamchill.streamer.commands.devices",
        "list audio inputs; mark the system-output monitor",
    ),
    "listen": (
        "streamchill.streamer.commands.listen",
        "print live events from the daemon (debug client)",
    ),
    "send": (
        "streamchill.streamer.commands.send",
        "stream media files into the daemon, as a tab would",
    ),
    "service": (
        "streamchill.streamer.commands.service",
        "install or remove the daemon as a login service",
    ),
    "token": (
        "streamchill.streamer.commands.token",
        "print the daemon's token (for the extension and scripts)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamchill",
        description="Stream & Chill: live calm-vs-aggressive music analysis, on your machine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_parser(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `streamchill analyze --events | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
