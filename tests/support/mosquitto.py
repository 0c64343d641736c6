"""A real mosquitto broker for tests: free loopback port, generated config, stop/restart.

Tests talk to the same broker people run at home, so retained messages, last wills and
CONNACK refusals behave exactly as in production. The broker keeps its port across
:meth:`Mosquitto.restart`, which is what a publisher sees when the home server reboots.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from tests.support.waiting import WaitTimeout, wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
START_TIMEOUT_S = 10.0
_RECEIVED_PUBLISH = re.compile(r"Received PUBLISH from \S+ \(d\d, q\d, r\d, m\d+, '([^']*)'")


def available() -> bool:
    """True when the broker binary is installed (CI installs the ``mosquitto`` package)."""
    return Path(MOSQUITTO).exists()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One mosquitto process on ``127.0.0.1:port``, configured from files under ``workdir``.

    ``users`` (name -> password) switches anonymous access off and writes a password
    file with ``mosquitto_passwd``, for authentication tests. ``tls`` serves ``mqtts://``
    with a fresh self-signed certificate for 127.0.0.1, written to :attr:`ca_path`.
    """

    def __init__(
        self, workdir: Path, *, users: dict[str, str] | None = None, tls: bool = False
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.tls = tls
        self.ca_path = workdir / "ca.pem"
        self._proc: subprocess.Popen[bytes] | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type all",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto drops to the ``mosquitto`` user, which cannot write our
            # temporary log file; stay root, the broker only listens on loopback.
            lines.append("user root")
        if tls:
            key = workdir / "key.pem"
            subprocess.run(
                [
                    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(self.ca_path),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )  # fmt: skip
            lines += [f"certfile {self.ca_path}", f"keyfile {key}"]
        if users:
            pwfile = workdir / "passwords"
            for i, (name, password) in enumerate(users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", *create, str(pwfile), name, password],
                    check=True,
                    capture_output=True,
                    timeout=10,
                )
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        """The ``--mqtt`` URL that points at this broker."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it accepts TCP connections."""
        if self.running:
            return
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        proc = self._proc

        def listening() -> bool:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err}\n{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        try:
            wait_until(listening, START_TIMEOUT_S, f"mosquitto to listen on {self.port}")
        except WaitTimeout as exc:
            self.stop()
            raise RuntimeError(str(exc)) from None

    def stop(self, *, kill: bool = True) -> None:
        """Stop the broker: SIGKILL by default (a crash: no goodbye to anyone)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self._proc.wait(timeout=10)
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port (listeners use SO_REUSEADDR)."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        """The broker's log so far (connections, refusals), for assertions and failures."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """Where the broker's log ends now: pass it to :meth:`received_topics` later."""
        return len(self.log_text())

    def received_topics(self, since: int = 0) -> list[str]:
        """Topics of the PUBLISH packets the broker received after log position ``since``.

        What a publisher sent, seen from the broker itself: a subscriber that connects
        after a restart cannot tell a non-retained message it missed from one never sent.
        """
        return _RECEIVED_PUBLISH.findall(self.log_text()[since:])

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
