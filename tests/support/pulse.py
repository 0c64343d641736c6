"""A private, real PulseAudio server with a null sink, for system-capture tests.

It runs in a temporary runtime dir with its own socket, so it never touches a desktop's
sound server; clients reach it through the environment in :attr:`PulseServer.env`
(``PULSE_SERVER``; autospawn off). Works as root (CI) and as a normal user. Import the
fixture with ``from tests.support.pulse import pulse``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.waiting import WaitTimeout, wait_until

SINK = "streamchill_test_sink"
START_TIMEOUT_S = 15.0


class PulseServer:
    """One ``pulseaudio`` process we started (and only ever stop by its own pid)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "native"
        client_conf = self.dir / "client.conf"
        client_conf.write_text("autospawn = no\n")
        self.env = {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_CLIENTCONFIG": str(client_conf),
            "XDG_RUNTIME_DIR": str(self.dir),
        }
        """Environment for clients (the daemon, paplay, pactl)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "pulseaudio.log"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.socket.unlink(missing_ok=True)
        command = [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--system=false",
            "--use-pid-file=no", "--disable-shm=yes", "--log-target=stderr",
            "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            "-L", f"module-null-sink sink_name={SINK} rate=44100",
            "-L", "module-always-sink",
        ]  # fmt: skip
        env = {**os.environ, "HOME": str(self.dir), "XDG_RUNTIME_DIR": str(self.dir),
               "XDG_CONFIG_HOME": str(self.dir / "config")}  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        proc = self.proc

        def answers_or_dead() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("pulseaudio exited at start\n" + self.log_path.read_text())
            return self.answers()

        try:
            wait_until(answers_or_dead, START_TIMEOUT_S, "pulseaudio to answer", poll_s=0.1)
        except WaitTimeout as exc:
            self.kill()
            raise RuntimeError(f"{exc}\n{self.log_path.read_text()}") from None
        self.pactl("set-default-sink", SINK)

    def answers(self) -> bool:
        return self.pactl("info", check=False).returncode == 0

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pactl", *args], env={**os.environ, **self.env}, check=check,
                              capture_output=True, text=True, timeout=10)  # fmt: skip

    def play(self, path: Path) -> subprocess.Popen[bytes]:
        """Play a file into the null sink (returns at once; the player runs on)."""
        return subprocess.Popen(["paplay", "-d", SINK, str(path)], env={**os.environ, **self.env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL to our own pid), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def pulse_available() -> bool:
    return all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "paplay"))


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[PulseServer]:
    """A running private PulseAudio server with a null sink as the default sink."""
    if not pulse_available():
        pytest.fail("pulseaudio, pactl and paplay are needed (Debian: pulseaudio-utils)")
    server = PulseServer(tmp_path / "pulse")
    server.start()
    try:
        yield server
    finally:
        server.stop()
