"""Helpers for the browser end-to-end tests: Debian's Chromium with the unpacked extension,
the real daemon as a subprocess, a static page server, a ``/v1/events`` subscriber, and a
recorder of the PulseAudio sink Chromium plays into (to hear whether the page is audible).

No stand-in daemon: the real one runs here, so the tests use it.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
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
    """A running real daemon: where it listens and how to ask it things."""

    port: int
    token: str
    log_path: Path | None = None
    pid: int = 0
    """The daemon process, ours: a test may stop it early (``stop_early``)."""

    def stop_early(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the daemon now (as a user quitting it would) and wait until it is gone."""
        os.kill(self.pid, signal.SIGTERM)
        wait_for(lambda: not Path(f"/proc/{self.pid}").exists() or _zombie(self.pid),
                 timeout_s, what="the daemon to exit")  # fmt: skip

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


def _zombie(pid: int) -> bool:
    """Exited but not yet reaped by us (its Popen waits in start_real_daemon's exit)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True


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
        yield Daemon(
            port=int(info["port"]), token=str(info["token"]), log_path=log_path, pid=proc.pid
        )
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
    """Flags for Debian's Chromium: new headless (extensions need it), no network chatter.

    ``--allowlisted-extension-id`` lifts tab capture's "the user invoked the extension on
    this tab" rule for our id, so the popup's own Start button can capture a tab without a
    click on the toolbar (which a test cannot give). Debian's Chromium 156 honours it; the
    old spelling ``--whitelisted-extension-id`` is ignored (docs/extension.md).
    """
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
        f"--allowlisted-extension-id={EXTENSION_ID}",
    ]


def launch_with_extension(
    playwright: Any,
    user_data_dir: Path,
    ext: Path = EXTENSION_DIR,
    env: dict[str, str] | None = None,
) -> Any:
    """A persistent Chromium context with the unpacked extension (never a downloaded browser).

    ``env`` adds to the environment (``PULSE_SERVER`` of a private PulseAudio sends the
    browser's sound there).
    """
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=CHROMIUM,
        headless=False,  # the real flag is --headless=new in args: extensions need it
        args=chromium_args(ext),
        ignore_default_args=["--disable-extensions", "--mute-audio"],
        viewport={"width": 1000, "height": 700},
        env={**os.environ, **(env or {})},
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


class EventsSubscriber:
    """A ``/v1/events`` subscriber of the real daemon on a thread; keeps every message."""

    def __init__(self, daemon: Daemon) -> None:
        from websockets.sync.client import connect

        self._exit = contextlib.ExitStack()
        self._ws = self._exit.enter_context(
            connect(
                f"ws://127.0.0.1:{daemon.port}/v1/events",
                additional_headers={"Authorization": f"Bearer {daemon.token}"},
                open_timeout=10,
            )
        )
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="events-sub", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the daemon going away ends the loop
            for raw in self._ws:
                with self._lock:
                    self.messages.append(json.loads(raw))

    def wait(self, predicate: Any, timeout_s: float, what: str) -> dict[str, Any]:
        """The first message (in order received) for which ``predicate`` holds; waits for it."""

        def found() -> dict[str, Any] | None:
            with self._lock:
                return next((m for m in self.messages if predicate(m)), None)

        return wait_for(found, timeout_s, interval_s=0.1, what=what)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._exit.close()
        self._thread.join(5)


def chromium_cpu_s(browser_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of Chromium and each child, by role, from /proc.

    Roles: ``browser``, ``extension`` (the renderer with ``--extension-process``: service
    worker, offscreen document, popup), ``renderer`` (pages), ``audio`` (the audio
    service), ``gpu``, ``utility``. Processes of one role are summed.
    """
    tick_s = 1.0 / os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid in [browser_pid, *_descendants(browser_pid)]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) * tick_s  # utime, stime
        role = _role(cmd, pid == browser_pid)
        out[role] = out.get(role, 0.0) + cpu_s
    return out


def _role(cmd: str, is_browser: bool) -> str:
    if is_browser:
        return "browser"
    if "--type=renderer" in cmd:
        return "extension" if "--extension-process" in cmd else "renderer"
    if "audio.mojom.AudioService" in cmd:
        return "audio"
    if "--type=gpu-process" in cmd:
        return "gpu"
    return "utility"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def chromium_pid(user_data_dir: Path) -> int:
    """The browser process (not a child) that runs with this profile directory."""
    flag = f"--user-data-dir={user_data_dir}".encode()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if flag in argv and not any(a.startswith(b"--type=") for a in argv):
                return int(entry.name)
    raise LookupError(f"no Chromium browser process with {flag.decode()}")
