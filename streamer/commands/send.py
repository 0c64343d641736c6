"""``streamchill send``: stream media files into a running daemon, as a browser tab would.

For demos and for debugging the daemon without a browser: each file becomes one ingest
stream on ``/v1/audio`` (named after the file), sent in 100 ms PCM frames paced like
playback, or ``--speed`` times faster. The daemon is a live service: it queues at most a
few seconds of audio per stream and drops (and reports) what arrives faster than it can
analyse, so there is no "as fast as possible" here; ``streamchill analyze`` is for that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

FRAME_S = 0.1


def add_parser(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("files", nargs="+", metavar="FILE", help="media files to stream, one stream each")
    add("--url", default="ws://127.0.0.1:8765", help="daemon address (default %(default)s)")
    add("--config-dir", metavar="DIR", help="where the token lives")
    add("--token", help="token to use instead of the one in the config dir")
    add("--format", choices=["s16le", "f32le"], default="s16le", help="PCM sample format")
    add("--speed", type=float, default=1.0,
        help="pace at this multiple of playback speed (default 1; keep it modest)")  # fmt: skip


def stream_name(path: Path) -> str:
    """A protocol-safe stream name from a file name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "file"
    return f"file-{name}"[:128]


def encode(block: np.ndarray, sample_format: str) -> bytes:
    if sample_format == "s16le":
        return (np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return block.astype("<f4").tobytes()


async def send_file(url: str, token: str, path: Path, sample_format: str, speed: float) -> None:
    """Decode ``path`` and stream it; raises StreamerError with a one-line reason."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    from streamchill.streamer.errors import SourceError
    from streamchill.streamer.sources.decode import decode_file

    audio = decode_file(path)
    hello = {
        "type": "hello", "v": 1, "stream": stream_name(path), "sample_format": sample_format,
        "sample_rate_hz": audio.sample_rate_hz, "channels": audio.channels, "title": path.name,
    }  # fmt: skip
    try:
        async with connect(
            f"{url.rstrip('/')}/v1/audio",
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=10,
        ) as ws:
            await ws.send(json.dumps(hello))
            reply = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            if reply.get("type") != "ready":
                raise SourceError(f"{path}: the daemon refused the stream: {reply.get('message')}")
            started = time.monotonic()
            sent_s = 0.0
            for block in audio.blocks(FRAME_S):
                await ws.send(encode(block, sample_format))
                sent_s += len(block) / audio.sample_rate_hz
                ahead = sent_s / speed - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await ws.send(json.dumps({"type": "bye", "v": 1}))
            await asyncio.sleep(0.5)  # let the final event out before closing
    except InvalidStatus as exc:
        raise SourceError(f"{url}: refused ({exc.response.status_code})") from exc
    except (OSError, WebSocketException, TimeoutError) as exc:
        raise SourceError(
            f"{url}: cannot stream to the daemon ({exc or type(exc).__name__})"
        ) from exc


def run(args: argparse.Namespace) -> int:
    from streamchill.streamer.config import resolve_config_dir
    from streamchill.streamer.errors import StreamerError
    from streamchill.streamer.server.auth import read_token

    try:
        token = args.token or read_token(resolve_config_dir(args.config_dir))
    except StreamerError as exc:
        print(f"streamchill send: {exc}", file=sys.stderr)
        return 1
    if not 0.1 <= args.speed <= 20:
        print("streamchill send: --speed must be between 0.1 and 20", file=sys.stderr)
        return 2
    failed = 0
    for name in args.files:
        try:
            asyncio.run(send_file(args.url, token, Path(name), args.format, args.speed))
        except StreamerError as exc:
            print(f"streamchill send: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
