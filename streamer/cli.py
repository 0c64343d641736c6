"""The ``streamchill`` command: wires subcommands to importable modules, nothing more."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes ``add_parser(subparsers)`` and ``run(args) -> int``. They are imported
# lazily by name so ``streamchill --help`` never loads essentia or LiteRT.
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("streamer.analyze_cmd", "analyse files or URLs and print the verdict"),
    "daemon": ("streamer.daemon_cmd", "run the local server: live analysis for the extension"),
    "devices": ("streamer.devices_cmd", "list audio inputs; mark the system-output monitor"),
    "listen": ("streamer.listen_cmd", "print live events from the daemon (debug client)"),
    "send": ("streamer.send_cmd", "stream media files into the daemon, as a tab would"),
    "service": ("streamer.service_cmd", "install or remove the daemon as a login service"),
    "token": ("streamer.token_cmd", "print the daemon's token (for the extension and scripts)"),
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
