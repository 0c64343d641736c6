"""Helpers for the browser end-to-end test: Debian's Chromium with the unpacked extension,
the real daemon as a subprocess, a static page server, and a small stand-in daemon.

The stand-in (:class:`StandInDaemon`) speaks just enough of docs/protocol.md (hello/ready,
binary PCM, mood events, ``GET /v1/streams``) to develop the extension without the real
daemon; the end-to-end test itself runs the real one (:func:`start_real_daemon`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXTENSION_DIR = REPO / "extension"
EXTENSION_ID = "cjpikdgbceefcbkpjabodpmgjgfbfjjp"
CHROMIUM = "/usr/bin/chromium"
# The CLI of the interpreter running the tests (the checkout's .venv under ./scripts/check).
STREAMCHILL = [sys.executable, "-m", "streamchill.streamer"]


@dataclass
class Daemon:
    """A running daemon (real or stand-in): where it listens and how to ask it things."""

    port: int
    token: str
    stop: Any = None
    log_path: Path | None = None

    def get(self, path: str, timeout_s: float = 5.0) -> Any:
        """GET a JSON endpoint with the token."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())

    def log_tail(self, n_chars: int = 4000) -> str:
        """The end of the daemon's log, for assertion messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-n_chars:]


def real_daemon_available() -> bool:
    """Whether the installed ``streamchill`` knows the ``daemon`` command."""
    out = subprocess.run(
        [*STREAMCHILL, "daemon", "--help"], capture_output=True, text=True, timeout=60
    )
    return out.returncode == 0 and "--ready-file" in out.stdout


@contextlib.contextmanager
def start_real_daemon(tmp: Path, port: int = 0, timeout_s: float = 60.0) -> Iterator[Daemon]:
    """Run ``streamchill daemon --port <port>`` and wait for its ready file ({port, token, pid})."""
    config_dir = tmp / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    ready = tmp / "ready.json"
    ready.unlink(missing_ok=True)
    log_path = tmp / "daemon.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            *STREAMCHILL,
            "daemon",
            "--port",
            str(port),
            "--config-dir",
            str(config_dir),
            "--ready-file",
            str(ready),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    try:
        deadline = time.monotonic() + timeout_s
        info: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {proc.returncode}:\n{log_path.read_text()}")
            if ready.exists():
                with contextlib.suppress(json.JSONDecodeError):
                    info = json.loads(ready.read_text())
                    break
            time.sleep(0.1)
        if info is None:
            raise TimeoutError(f"no ready file after {timeout_s} s:\n{log_path.read_text()}")
        yield Daemon(port=int(info["port"]), token=str(info["token"]), log_path=log_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[int]:
    """Serve ``root`` over HTTP on 127.0.0.1 (a free port) from a thread; yields the port."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-http", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def media_page(root: Path, audio: Path) -> Path:
    """Write an index.html that loops ``audio`` in an <audio> element (copied next to it)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(audio, root / audio.name)
    (root / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Calm example</title>"
        "<h1>Calm example</h1>"
        f'<audio id="player" src="{audio.name}" controls autoplay loop></audio>'
        "<script>const a=document.getElementById('player');"
        "a.play().catch(()=>document.addEventListener('click',()=>a.play(),{once:true}));</script>"
    )
    return root


def chromium_args(ext: Path) -> list[str]:
    """Flags for Debian's Chromium: new headless (extensions need it), no network chatter."""
    return [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--disable-extensions-except={ext}",
        f"--load-extension={ext}",
        "--autoplay-policy=no-user-gesture-required",
    ]


def launch_with_extension(playwright: Any, user_data_dir: Path, ext: Path = EXTENSION_DIR) -> Any:
    """A persistent Chromium context with the unpacked extension (never a downloaded browser)."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=CHROMIUM,
        headless=False,  # the real flag is --headless=new in args: extensions need it
        args=chromium_args(ext),
        ignore_default_args=["--disable-extensions", "--mute-audio"],
        viewport={"width": 1000, "height": 700},
    )


def wait_for(predicate: Any, timeout_s: float, interval_s: float = 0.25, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout_s
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}: {last_exc!r}")


# --- stand-in daemon (development aid; the e2e test uses the real daemon) ---


@dataclass
class _Stream:
    name: str
    rate_hz: int
    bytes_per_s: float
    bytes_in: int = 0
    seq: int = 0
    title: str = ""
    url: str = ""

    @property
    def media_time_s(self) -> float:
        return self.bytes_in / self.bytes_per_s


@dataclass
class StandInDaemon:
    """Protocol v1 subset on a thread: ingest counts PCM, events say ``calm`` after 3 s."""

    allowed_origins: tuple[str, ...] = (f"chrome-extension://{EXTENSION_ID}",)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = 0
    streams: dict[str, _Stream] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._subs: set[Any] = set()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="standin-daemon", daemon=True)

    def __enter__(self) -> Daemon:
        self._thread.start()
        if not self._started.wait(10):
            raise TimeoutError("stand-in daemon did not start")
        return Daemon(port=self.port, token=self.token)

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from websockets.asyncio.server import serve
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        self._stop = asyncio.Event()

        def reply(status: int, body: Any) -> Response:
            data = json.dumps(body).encode()
            return Response(
                status,
                "OK" if status == 200 else "Forbidden",
                Headers({"Content-Type": "application/json", "Content-Length": str(len(data))}),
                data,
            )

        def process_request(conn: Any, request: Any) -> Response | None:
            origin = request.headers.get("Origin")
            path = request.path.split("?")[0]
            token_ok = (
                request.headers.get("Authorization") == f"Bearer {self.token}"
                or f"token={self.token}" in request.path
            )
            if path == "/healthz":
                return reply(200, {"status": "ok", "version": "standin", "uptime_s": 0})
            if origin is not None and origin not in self.allowed_origins:
                return reply(403, {"error": "origin"})
            if origin is None and not token_ok:
                return reply(403, {"error": "token"})
            if path == "/v1/streams":
                return reply(
                    200,
                    {
                        "streams": [
                            {
                                "stream": s.name,
                                "state": "calm",
                                "calm_probability": 0.9,
                                "media_time_s": s.media_time_s,
                                "title": s.title,
                                "url": s.url,
                                "source": "extension",
                            }
                            for s in self.streams.values()
                        ]
                    },
                )
            if path in ("/v1/audio", "/v1/events"):
                return None
            return reply(404, {"error": "not found"})

        async def handler(ws: Any) -> None:
            path = ws.request.path.split("?")[0]
            if path == "/v1/events":
                await self._events(ws)
            else:
                await self._audio(ws)

        async with serve(
            handler, "127.0.0.1", self.port, process_request=process_request
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._started.set()
            ticker = asyncio.create_task(self._tick())
            await self._stop.wait()
            ticker.cancel()

    async def _audio(self, ws: Any) -> None:
        hello = json.loads(await ws.recv())
        width = 2 if hello["sample_format"] == "s16le" else 4
        s = _Stream(
            hello["stream"],
            hello["sample_rate_hz"],
            hello["sample_rate_hz"] * hello["channels"] * width,
            title=hello.get("title") or "",
            url=hello.get("url") or "",
        )
        self.streams[s.name] = s
        await ws.send(json.dumps({"type": "ready", "v": 1, "stream": s.name}))
        await self._broadcast(
            {"type": "stream_start", "v": 1, "stream": s.name, "title": s.title, "url": s.url}
        )
        try:
            async for msg in ws:
                if isinstance(msg, bytes):
                    s.bytes_in += len(msg)
                elif json.loads(msg).get("type") == "bye":
                    break
        finally:
            self.streams.pop(s.name, None)
            await self._broadcast(
                {"type": "stream_end", "v": 1, "stream": s.name, "last_seq": s.seq}
            )

    async def _events(self, ws: Any) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "welcome",
                    "v": 1,
                    "server": "streamchill/standin",
                    "streams": list(self.streams),
                }
            )
        )
        self._subs.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            self._subs.discard(ws)

    async def _broadcast(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg)
        for ws in list(self._subs):
            with contextlib.suppress(Exception):
                await ws.send(data)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for s in list(self.streams.values()):
                t = s.media_time_s
                warming = t < 3.0
                await self._broadcast(
                    {
                        "type": "mood",
                        "v": 1,
                        "stream": s.name,
                        "seq": s.seq,
                        "media_time_s": t,
                        "window_start_s": max(0.0, t - 30),
                        "window_end_s": t,
                        "state": "warming_up" if warming else "calm",
                        "changed": s.seq == 0,
                        "warming_up": warming,
                        "calm_probability": 0.88,
                        "speech_probability": 0.02,
                        "features": {
                            "danceability": 0.9,
                            "bpm": 72.0,
                            "avg_db_deviation": 3.1,
                            "loudness_db": -22.0,
                        },
                        "top_tags": [["ambient", 0.6]],
                        "reason": None,
                        "model_version": "standin",
                    }
                )
                s.seq += 1
