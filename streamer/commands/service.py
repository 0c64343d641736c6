"""``streamchill service install|uninstall``: start the daemon at login (systemd user unit on
Linux, a launchd agent plist printed on macOS)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["install", "uninstall"])
    parser.add_argument("--capture", metavar="system|DEVICE",
                        help="have the service capture system audio too")  # fmt: skip
    parser.add_argument("--port", type=int, help="port for the service's daemon")
    parser.add_argument("--unit-dir", metavar="DIR",
                        help="write the unit here, no systemctl")  # fmt: skip
    parser.add_argument("--no-enable", action="store_true", help="write the unit only")


def run(args: argparse.Namespace) -> int:
    from streamchill.streamer.service import install, uninstall

    unit_dir = Path(args.unit_dir) if args.unit_dir else None
    if args.action == "install":
        extra = []
        if args.capture:
            extra += ["--capture", args.capture]
        if args.port is not None:
            extra += ["--port", str(args.port)]
        result = install(extra, unit_dir=unit_dir, enable=not (args.no_enable or unit_dir))
    else:
        result = uninstall(unit_dir=unit_dir)
    for message in result.messages:
        print(message)
    return 0
