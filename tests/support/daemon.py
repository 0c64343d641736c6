"""A real ``streamchill daemon`` in a subprocess, and small clients that talk to it.

Import the fixture into a test module with ``from tests.support.daemon import daemon``;
it starts the daemon on a free port with a fresh config dir and stops it (SIGTERM, then
checks the exit code) after the test.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


@dataclass
class RunningDaemon:
    """A daemon subprocess and what a client needs to reach it."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    config_dir: Path
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def auth(self) -> dict[str, str]:
        """Headers of a CLI client (no Origin, token as a bearer)."""
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """Plain HTTP GET; returns (status, parsed JSON or text)."""
        return http_get(self.port, path, headers if headers is not None else self.auth)

    def stats(self) -> dict[str, float]:
        status, body = self.get("/v1/stats")
        assert status == 200, body
        return dict(body)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
                raise AssertionError("daemon did not stop on SIGTERM\n" + self.log()) from None
        return int(self.proc.returncode)


def start_daemon(workdir: Path, *args: str, env: Mapping[str, str] | None = None) -> RunningDaemon:
    """Start ``streamchill daemon --port 0`` and wait for its ready file."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_dir = workdir / "config"
    ready = workdir / "ready.json"
    log_path = workdir / "daemon.log"
    ready.unlink(missing_ok=True)
    command = [sys.executable, "-m", "streamchill.streamer", "daemon", "--port", "0",
               "--config-dir", str(config_dir), "--ready-file", str(ready), *args]  # fmt: skip
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                cwd=ROOT)  # fmt: skip

    def ready_or_dead() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}\n{log_path.read_text()}")
        return ready.exists()

    try:
        wait_until(ready_or_dead, START_TIMEOUT_S, "the daemon's ready file")
    except WaitTimeout as exc:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)
        raise AssertionError(f"{exc}\n{log_path.read_text()}") from None
    info = json.loads(ready.read_text())
    assert info["pid"] == proc.pid
    return RunningDaemon(proc, info["port"], info["token"], config_dir, log_path)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A fresh daemon for one test; its exit code after SIGTERM must be 0."""
    running = start_daemon(tmp_path)
    try:
        yield running
    finally:
        code = running.stop()
        assert code == 0, f"daemon exited with {code}\n{running.log()}"


def http_get(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body


def raw_upgrade(port: int, path: str, headers: Mapping[str, str]) -> tuple[int, str]:
    """Send a WebSocket upgrade request with exactly ``headers`` (Host included, if given);
    return the status code and the body. Lets a test forge Host/Origin like a browser would."""
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            sock.settimeout(2)
            try:
                while chunk := sock.recv(4096):
                    body += chunk
            except TimeoutError:
                pass
    return status, body.decode(errors="replace")


async def recv_json(ws: Any, timeout_s: float = 10.0) -> dict[str, Any]:
    """The next text message as JSON, within ``timeout_s``."""
    message = await asyncio.wait_for(ws.recv(), timeout_s)
    assert isinstance(message, str), f"expected text, got {type(message).__name__}"
    data = json.loads(message)
    assert isinstance(data, dict)
    return data
