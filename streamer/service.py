"""Run the daemon at login: a systemd user unit on Linux, a launchd agent on macOS.

Rendering is pure (tests check the text); installing writes the file and, on Linux, asks
``systemctl --user`` to enable and start it when a user manager is reachable, and says
what to run otherwise (containers, SSH sessions without lingering).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

UNIT_NAME = "streamchill.service"
LAUNCHD_LABEL = "com.streamchill.daemon"


@dataclass(frozen=True)
class ServiceResult:
    """What happened, in sentences for the user."""

    path: Path | None
    messages: list[str]


def daemon_command(extra_args: list[str]) -> list[str]:
    """The command the service runs: this Python, this package, so a venv install works."""
    return [sys.executable, "-m", "streamchill.streamer", "daemon", *extra_args]


def render_systemd_unit(command: list[str]) -> str:
    """A systemd user unit that restarts the daemon if it dies."""
    return f"""[Unit]
Description=Stream & Chill daemon (live music mood analysis on 127.0.0.1)
After=pipewire-pulse.service pulseaudio.service

[Service]
Type=simple
ExecStart={shlex.join(command)}
Restart=on-failure
RestartSec=3
# The daemon only needs its config dir and the loopback; keep the rest read-only.
NoNewPrivileges=yes

[Install]
WantedBy=default.target
"""


def render_launchd_plist(command: list[str]) -> str:
    """A launchd agent (``~/Library/LaunchAgents``) that keeps the daemon running."""
    args = "\n".join(f"    <string>{escape(a)}</string>" for a in command)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
{args}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
</dict>
</plist>
"""


def systemd_user_dir() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def _systemctl(*args: str) -> tuple[bool, str]:
    if not shutil.which("systemctl"):
        return False, "systemctl not found"
    try:
        done = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True,
                              timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return done.returncode == 0, (done.stderr or done.stdout).strip()


def install(extra_args: list[str], *, unit_dir: Path | None = None, enable: bool = True
            ) -> ServiceResult:  # fmt: skip
    """Write (and enable) the user service; on macOS, return the plist to save."""
    command = daemon_command(extra_args)
    if sys.platform == "darwin":
        target = Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        return ServiceResult(None, [
            render_launchd_plist(command),
            f"Save the above as {target}, then run: launchctl load -w {target}",
        ])  # fmt: skip
    if not sys.platform.startswith("linux"):
        return ServiceResult(None, [
            "No service manager support on this platform; run at login: " + shlex.join(command)
        ])  # fmt: skip
    directory = unit_dir or systemd_user_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / UNIT_NAME
    path.write_text(render_systemd_unit(command))
    messages = [f"wrote {path}"]
    if not enable:
        messages.append(f"enable it with: systemctl --user enable --now {UNIT_NAME}")
        return ServiceResult(path, messages)
    ok, output = _systemctl("daemon-reload")
    if ok:
        ok, output = _systemctl("enable", "--now", UNIT_NAME)
    if ok:
        messages.append(f"enabled and started {UNIT_NAME}; logs: journalctl --user -u {UNIT_NAME}")
    else:
        messages.append(
            f"could not reach the systemd user manager ({output or 'no answer'}); in a desktop "
            f"session run: systemctl --user daemon-reload && systemctl --user enable --now "
            f"{UNIT_NAME} (for a headless machine also: loginctl enable-linger $USER)"
        )
    return ServiceResult(path, messages)


def uninstall(*, unit_dir: Path | None = None) -> ServiceResult:
    """Stop, disable and remove the user service."""
    if sys.platform == "darwin":
        target = Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        return ServiceResult(None, [f"run: launchctl unload -w {target} && rm {target}"])
    path = (unit_dir or systemd_user_dir()) / UNIT_NAME
    messages = []
    if unit_dir is None:
        ok, output = _systemctl("disable", "--now", UNIT_NAME)
        if not ok:
            messages.append(f"systemctl --user disable did not run ({output or 'no answer'})")
    if path.exists():
        path.unlink()
        messages.append(f"removed {path}")
        if unit_dir is None:
            _systemctl("daemon-reload")
    else:
        messages.append(f"{path} was not installed")
    return ServiceResult(path, messages)
