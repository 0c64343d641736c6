"""``streamchill token``: print the daemon's token (for the extension's options page and
for scripts). It is created by the first ``streamchill daemon`` run, or here with --create."""

from __future__ import annotations

import argparse
import sys


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-dir", metavar="DIR", help="where the token lives")
    parser.add_argument("--create", action="store_true",
                        help="create the token if the daemon never ran here")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from streamchill.streamer.config import resolve_config_dir
    from streamchill.streamer.errors import ConfigError
    from streamchill.streamer.server.auth import load_or_create_token, read_token

    directory = resolve_config_dir(args.config_dir)
    try:
        token = load_or_create_token(directory) if args.create else read_token(directory)
    except ConfigError as exc:
        print(f"streamchill token: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0
