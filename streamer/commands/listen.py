"""``streamchill listen``: the debug client. Prints every event of the daemon as it comes,
as JSON lines (piped, or ``--json``) or one readable line per event on a terminal.

It reads the token from the config dir, reconnects with backoff when the daemon goes
away, and resumes with ``since`` so nothing held in the replay ring is missed. Messages are
checked against the JSON Schemas when ``jsonschema`` is installed; a mismatch is reported
on stderr (it is a daemon bug).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from importlib import resources
from typing import Any, TextIO

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
BARS = "▁▂▃▄▅▆▇█"


def add_parser(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--streams", metavar="A,B", help="only these streams (default: all)")
    add("--url", default="ws://127.0.0.1:8765", help="daemon address (default %(default)s)")
    add("--config-dir", metavar="DIR", help="where the token lives")
    add("--token", help="token to use instead of the one in the config dir")
    add("--json", action="store_true", help="JSON lines even on a terminal")
    add("--lines", action="store_true", help="one readable line per event even when piped")
    add("--once", action="store_true", help="exit when the connection ends (no reconnect)")


def format_line(msg: dict[str, Any]) -> str:
    """One human line per message (the terminal view)."""
    clock = time.strftime("%H:%M:%S")
    kind = msg.get("type")
    if kind == "mood":
        p = msg["calm_probability"]
        f = msg["features"]
        calm = "calm   -  " if p is None else f"calm {p:4.2f} {BARS[min(7, int(p * 8))]}"
        flag = "*" if msg.get("changed") else " "
        bpm = f"{f['bpm']:5.1f}" if f["bpm"] else "    -"  # 0: no pulse found (yet)
        return (f"{clock} {msg['stream']:<16} #{msg['seq']:<5} {flag}{msg['state']:<10} "
                f"{calm}  speech {msg['speech_probability']:4.2f}  "
                f"bpm {bpm}  dance {f['danceability']:4.2f}  "
                f"{f['loudness_db']:6.1f} dB  t={msg['media_time_s']:.0f}s")  # fmt: skip
    if kind == "stream_start":
        title = f" {msg['title']!r}" if msg.get("title") else ""
        return f"{clock} {msg['stream']:<16} started ({msg.get('source')}){title}"
    if kind == "stream_end":
        return f"{clock} {msg['stream']:<16} ended (last seq {msg.get('last_seq')})"
    if kind == "welcome":
        live = ", ".join(msg.get("streams", [])) or "none"
        return f"{clock} connected to {msg.get('server')}; live streams: {live}"
    return f"{clock} {json.dumps(msg)}"


class Listener:
    """Connect, print, remember the last seq per stream, reconnect and resume."""

    def __init__(self, url: str, token: str, *, streams: list[str] | None, as_json: bool,
                 out: TextIO, once: bool = False) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.token = token
        self.streams = streams
        self.as_json = as_json
        self.out = out
        self.once = once
        self.last_seq: dict[str, int] = {}
        self._validators = _validators()

    def events_url(self) -> str:
        """``/v1/events`` with the filter and the resume points."""
        query = []
        if self.streams:
            query.append("streams=" + ",".join(self.streams))
        if self.last_seq:
            query.append("since=" + ",".join(f"{s}:{n}" for s, n in self.last_seq.items()))
        return f"{self.url}/v1/events" + ("?" + "&".join(query) if query else "")

    async def run(self) -> int:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        backoff = BACKOFF_MIN_S
        while True:
            try:
                async with connect(self.events_url(), open_timeout=10, additional_headers={
                        "Authorization": f"Bearer {self.token}"}) as ws:  # fmt: skip
                    backoff = BACKOFF_MIN_S
                    async for raw in ws:
                        self.show(json.loads(raw))
                reason = "connection closed"
            except BrokenPipeError:
                return 0  # whoever read our output is gone; reconnecting would not help
            except InvalidStatus as exc:
                if exc.response.status_code == 403:
                    _err(f"refused (403): {exc.response.body.decode(errors='replace').strip()}")
                    return 1
                reason = str(exc)
            except (OSError, WebSocketException, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
            if self.once:
                return 0
            _err(f"{reason}; reconnecting in {backoff:.1f} s")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def show(self, msg: dict[str, Any]) -> None:
        """Print one message and remember its seq."""
        problem = self._check(msg)
        if problem:
            _err(f"message does not match the schema: {problem}")
        if msg.get("type") == "mood":
            self.last_seq[msg["stream"]] = int(msg["seq"])
        text = json.dumps(msg, separators=(",", ":")) if self.as_json else format_line(msg)
        self.out.write(text + "\n")
        self.out.flush()

    def _check(self, msg: dict[str, Any]) -> str | None:
        if not self._validators:
            return None
        validator = self._validators["mood" if msg.get("type") == "mood" else "protocol"]
        error = next(iter(validator.iter_errors(msg)), None)
        return None if error is None else error.message


def _validators() -> dict[str, Any]:
    try:
        import jsonschema
    except ImportError:
        return {}
    analyzer, streamer = (
        resources.files("streamchill.analyzer"),
        resources.files("streamchill.streamer"),
    )
    paths = {"mood": analyzer / "schema" / "events.schema.json",
             "protocol": streamer / "schema" / "protocol.schema.json"}  # fmt: skip
    return {k: jsonschema.Draft202012Validator(json.loads(p.read_text())) for k, p in paths.items()}


def _err(text: str) -> None:
    print(f"streamchill listen: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from streamchill.streamer.config import resolve_config_dir
    from streamchill.streamer.errors import ConfigError
    from streamchill.streamer.server.auth import read_token

    try:
        token = args.token or read_token(resolve_config_dir(args.config_dir))
    except ConfigError as exc:
        _err(str(exc))
        return 1
    streams = [s for s in (args.streams or "").split(",") if s] or None
    listener = Listener(args.url, token, streams=streams, once=args.once,
                        as_json=args.json or not (args.lines or sys.stdout.isatty()),
                        out=sys.stdout)  # fmt: skip
    try:
        return asyncio.run(listener.run())
    except BrokenPipeError:
        return 0
