"""Settings precedence (file < environment < flags) and the login-service files."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from streamchill.streamer.config import Settings, load_settings
from streamchill.streamer.errors import ConfigError
from streamchill.streamer.service import render_launchd_plist, render_systemd_unit

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config.toml").write_text(text)
    return tmp_path


def test_defaults_bind_the_loopback_on_8765(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    assert (s.host, s.port, s.capture, s.mqtt) == ("127.0.0.1", 8765, None, None)
    assert s.config_dir == tmp_path


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    write(tmp_path, 'port = 9000\ncapture = "system"\nmax_streams = 4\n')
    assert load_settings(tmp_path, env={}).port == 9000
    env = {
        "STREAMCHILL_PORT": "9100",
        "STREAMCHILL_ALLOWED_ORIGINS": "chrome-extension://a,chrome-extension://b",
    }
    s = load_settings(tmp_path, env=env)
    assert (s.port, s.capture, s.max_streams) == (9100, "system", 4)
    assert s.allowed_origins == ("chrome-extension://a", "chrome-extension://b")
    s = load_settings(tmp_path, env=env, overrides={"port": 0, "capture": None})
    assert (s.port, s.capture) == (0, "system")  # None means "flag not given"


def test_a_daemon_table_sits_next_to_an_mqtt_table(tmp_path: Path) -> None:
    write(tmp_path, '[daemon]\nmqtt = "mqtt://broker.lan"\nport = 9001\n\n[mqtt]\nnode_id = "x"\n')
    s = load_settings(tmp_path, env={})
    assert (s.mqtt, s.port) == ("mqtt://broker.lan", 9001)


def test_the_config_dir_comes_from_the_flag_or_the_environment(tmp_path: Path) -> None:
    write(tmp_path, "port = 9002\n")
    assert load_settings(env={"STREAMCHILL_CONFIG_DIR": str(tmp_path)}).port == 9002


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("prot = 1\n", {}, "unknown key 'prot'"),
        ("port = 'x'\n", {}, "key 'port'"),
        ("port = 70000\n", {}, "port must be"),
        ("port = [\n", {}, "not valid TOML"),
        ("", {"STREAMCHILL_PORT": "eighty"}, "STREAMCHILL_PORT"),
        ("", {"STREAMCHILL_MQTT": "broker.lan"}, "mqtt must be a URL"),
        ("stream_queue_s = true\n", {}, "stream_queue_s"),
    ],
)
def test_bad_settings_name_the_culprit(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(tmp_path, env=env)


def test_the_daemon_refuses_bad_settings_with_exit_code_2(tmp_path: Path) -> None:
    write(tmp_path, "prot = 1\n")
    command = [
        sys.executable,
        "-m",
        "streamchill.streamer",
        "daemon",
        "--config-dir",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "unknown key 'prot'" in done.stderr


def test_settings_replace_validates() -> None:
    with pytest.raises(ConfigError):
        Settings().replace(max_streams=0)


def test_the_systemd_unit_runs_this_python_and_restarts_on_failure() -> None:
    unit = render_systemd_unit(
        [sys.executable, "-m", "streamchill.streamer", "daemon", "--capture", "my dev"]
    )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(unit)
    assert parser["Service"]["ExecStart"].startswith(sys.executable)
    assert parser["Service"]["ExecStart"].endswith("--capture 'my dev'")
    assert parser["Service"]["Restart"] == "on-failure"
    assert parser["Install"]["WantedBy"] == "default.target"


def test_the_launchd_plist_is_well_formed_xml() -> None:
    import plistlib

    plist = plistlib.loads(
        render_launchd_plist(["/usr/bin/python3", "-m", "streamchill.streamer", "a&b"]).encode()
    )
    assert plist["ProgramArguments"][-1] == "a&b" and plist["KeepAlive"] is True


def test_service_install_and_uninstall_with_a_unit_dir(tmp_path: Path) -> None:
    def cli(*args: str) -> str:
        command = [sys.executable, "-m", "streamchill.streamer", "service", *args]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = cli("install", "--capture", "system", "--unit-dir", str(tmp_path))
    unit = tmp_path / "streamchill.service"
    assert f"wrote {unit}" in out and "--capture system" in unit.read_text()
    assert "removed" in cli("uninstall", "--unit-dir", str(tmp_path)) and not unit.exists()
