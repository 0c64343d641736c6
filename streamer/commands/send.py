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
import contextlib
import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from streamchill.streamer.sources.decode import AudioFile

FRAME_S = 0.1
BYE_TIMEOUT_S = 30.0
"""How long to wait, after ``bye``, for the daemon to analyse what is queued and close."""


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


class AudioDropped(Exception):
    """The daemon reported that it dropped some of this file's audio (it fell behind)."""


async def _daemon_messages(ws: Any, path: Path, dropped: list[int]) -> None:
    """Read what the daemon says while we send: print its warnings and errors as they come.

    Ends when the daemon closes the stream (after ``bye`` and the final event).
    """
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            msg = json.loads(raw) if isinstance(raw, str) else {}
            kind = msg.get("type")
            if kind == "warning" and msg.get("code") == "dropped_audio":
                dropped.append(int(msg.get("frames", 0)))
                print(f"streamchill send: {path.name}: the daemon dropped {msg.get('frames')} "
                      "frame(s): it cannot keep up at this speed", file=sys.stderr)  # fmt: skip
            elif kind in ("warning", "error"):
                print(f"streamchill send: {path.name}: daemon {kind} {msg.get('code')}: "
                      f"{msg.get('message', '')}", file=sys.stderr)  # fmt: skip


async def send_file(url: str, token: str, path: Path, sample_format: str, speed: float) -> None:
    """Decode ``path`` and stream it; raises StreamerError with a one-line reason, and
    :class:`AudioDropped` when the daemon reported dropping some of the audio."""
    from streamchill.streamer.sources.decode import open_audio

    with open_audio(path) as audio:
        await _send_audio(url, token, path, audio, sample_format, speed)


async def _send_audio(
    url: str, token: str, path: Path, audio: AudioFile, sample_format: str, speed: float
) -> None:
    """Stream an opened file block by block: decoded as it is sent, never held whole."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    from streamchill.streamer.errors import SourceError

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
            dropped: list[int] = []
            reader = asyncio.create_task(_daemon_messages(ws, path, dropped))
            started = time.monotonic()
            sent_s = 0.0
            for block in audio.blocks(FRAME_S):
                await ws.send(encode(block, sample_format))
                sent_s += len(block) / audio.sample_rate_hz
                ahead = sent_s / speed - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await ws.send(json.dumps({"type": "bye", "v": 1}))
            # The daemon closes the stream once its final event is out (or warnings are).
            try:
                await asyncio.wait_for(reader, timeout=BYE_TIMEOUT_S)
            except TimeoutError:
                reader.cancel()
            if dropped:
                raise AudioDropped(
                    f"{path}: the daemon dropped {sum(dropped)} frame(s) of audio; "
                    "its judgement of this file is incomplete (try a lower --speed)"
                )
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
        except (StreamerError, AudioDropped) as exc:
            print(f"streamchill send: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
