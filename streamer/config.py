"""Daemon settings: defaults < TOML file < ``STREAMCHILL_*`` environment < command-line flags.

The file is ``<config dir>/config.toml``; the config dir is the platform's user config
directory for ``streamchill`` (``~/.config/streamchill`` on Linux) unless ``--config-dir``
or ``STREAMCHILL_CONFIG_DIR`` says otherwise. The token lives next to it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamchill.streamer.errors import ConfigError
from streamchill.streamer.server.auth import DEFAULT_ORIGINS

ENV_PREFIX = "STREAMCHILL_"
CONFIG_FILE = "config.toml"


@dataclass(frozen=True)
class Settings:
    """Everything the daemon can be told. Keys of the TOML file are these field names."""

    host: str = "127.0.0.1"
    """Address to bind; loopback unless the user explicitly binds elsewhere."""
    port: int = 8765
    """TCP port; 0 picks a free one (written to the ready file)."""
    capture: str | None = None
    """``system`` (monitor of the default output), a device name or index; None: no capture."""
    capture_stream: str = "system"
    """Stream name under which captured audio is published."""
    capture_rate_hz: int | None = None
    """Capture sample rate in Hz; None: the device's default."""
    mqtt: str | None = None
    """Broker URL (``mqtt://host:1883``) to publish events to; None: no MQTT."""
    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS
    """Extension origins allowed without a token (``chrome-extension://<id>``)."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra ``Host`` names accepted besides localhost/127.0.0.1/[::1]."""
    max_streams: int = 16
    """Concurrent ingest streams; more get ``busy``."""
    max_subscribers: int = 64
    """Concurrent ``/v1/events`` subscribers; more get HTTP 503."""
    subscriber_queue: int = 256
    """Messages a ``/v1/events`` subscriber may fall behind before it is dropped."""
    max_frame_bytes: int = 256 * 1024
    """Largest WebSocket message accepted, in bytes; larger closes with 1009."""
    stream_queue_s: float = 10.0
    """Seconds of audio a stream may queue for analysis before frames are dropped."""
    analysis_threads: int = 2
    """Streams whose analysis runs at once (turns of ``server/pool.py``'s pool, which has a
    thread for every stream). The CNN is serialised by its own lock (one copy of the
    weights); a stream waiting on it gives its turn away, so its wait never holds up the
    other streams' hops. Measured through the daemon on one core before the cascade, p99
    hop latency: musicnn with 10 streams 265 / 86 / 101 ms with 1 / 2 / 4 threads; a
    ~0.4 ms student stand-in with 50 streams ~20 ms with 1 or 2, 19-114 ms with 4 (the
    threads share the GIL, so more of them stretch every hop's own work)."""
    hello_timeout_s: float = 10.0
    """Seconds an ingest client has to send its hello."""
    idle_timeout_s: float = 300.0
    """Seconds without audio after which an ingest stream is closed."""
    analyze_wait_s: float = 8.0
    """Seconds ``/v1/analyze`` waits for a result before answering 202 (poll again)."""
    analyze_cache: int = 64
    """One-shot results kept in memory."""
    log_level: str = "info"
    config_dir: Path = field(default_factory=lambda: default_config_dir())
    """Where ``config.toml`` and ``token`` live (not settable from the file itself)."""

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated."""
        return _validated(dataclasses.replace(self, **changes))


def default_config_dir() -> Path:
    """The platform's per-user config directory for streamchill."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("streamchill", appauthor=False))


def resolve_config_dir(
    flag: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """``--config-dir`` beats ``STREAMCHILL_CONFIG_DIR`` beats the platform default."""
    env = os.environ if env is None else env
    if flag:
        return Path(flag).expanduser()
    if env.get(ENV_PREFIX + "CONFIG_DIR"):
        return Path(env[ENV_PREFIX + "CONFIG_DIR"]).expanduser()
    return default_config_dir()


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "config_dir"}


def load_settings(
    config_dir: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers; ``overrides`` are flags (``None`` values mean "not given")."""
    env = os.environ if env is None else env
    directory = resolve_config_dir(config_dir, env)
    values: dict[str, Any] = {}
    path = directory / CONFIG_FILE
    if path.exists():
        values.update(_from_file(path))
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw, f"environment variable {ENV_PREFIX}{name.upper()}")
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in _FIELDS:
                raise ConfigError(f"unknown setting {name!r}")
            values[name] = _coerce(name, value, f"flag --{name.replace('_', '-')}")
    return _validated(Settings(config_dir=directory, **values))


def read_config_file(directory: Path) -> dict[str, Any]:
    """The whole parsed ``config.toml`` (``{}`` if absent), for sections owned elsewhere
    such as ``[mqtt]``."""
    path = directory / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


OTHER_TABLES = frozenset({"mqtt"})
"""Tables of ``config.toml`` read by other modules (``[mqtt]``: :mod:`.mqtt.settings`)."""


def _from_file(path: Path) -> dict[str, Any]:
    data = read_config_file(path.parent)
    # The daemon's keys sit at top level, or in a [daemon] table next to e.g. [mqtt].
    table = data.get("daemon", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [daemon] must be a table")
    out = {}
    for key, value in table.items():
        if table is data and (key == "daemon" or (key in OTHER_TABLES and isinstance(value, dict))):
            continue
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{path}: unknown key {key!r} (known keys: {known})")
        out[key] = _coerce(key, value, f"{path}: key {key!r}")
    return out


def _coerce(name: str, value: Any, where: str) -> Any:
    """Turn a TOML value, an env string or a flag into the field's type, or say why not."""
    kind = str(_FIELDS[name].type)
    try:
        if isinstance(value, str) and value.lower() in {"", "none", "off"} and "None" in kind:
            return None
        if kind.startswith("int"):
            if isinstance(value, bool | float):
                raise ValueError("not an integer")
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError("not a number")
            return float(value)
        if kind.startswith("tuple"):
            if not isinstance(value, str | list | tuple):  # a TOML table is not a list
                raise ValueError("must be a list of strings")
            items = value.split(",") if isinstance(value, str) else list(value)
            if not all(isinstance(i, str) for i in items):
                raise ValueError("must be a list of strings")
            return tuple(i.strip() for i in items if i.strip())
        if name == "capture" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # a device index
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {value!r} is not valid for {name} ({exc})") from exc


def _validated(s: Settings) -> Settings:
    checks = [
        (0 <= s.port <= 65535, "port must be 0..65535"),
        (s.max_streams >= 1, "max_streams must be >= 1"),
        (s.max_subscribers >= 1, "max_subscribers must be >= 1"),
        (1 <= s.subscriber_queue <= 65536, "subscriber_queue must be 1..65536"),
        (4096 <= s.max_frame_bytes <= 16 * 1024 * 1024, "max_frame_bytes must be 4 KiB..16 MiB"),
        (0.5 <= s.stream_queue_s <= 120, "stream_queue_s must be 0.5..120"),
        (1 <= s.analysis_threads <= 16, "analysis_threads must be 1..16"),
        (s.hello_timeout_s > 0 and s.idle_timeout_s > 0, "timeouts must be > 0"),
        (s.analyze_wait_s >= 0 and s.analyze_cache >= 1, "analyze settings out of range"),
        (s.log_level.lower() in {"debug", "info", "warning", "error"}, "log_level: debug|info|…"),
        (bool(s.capture_stream), "capture_stream must not be empty"),
        (s.mqtt is None or "://" in s.mqtt, "mqtt must be a URL like mqtt://localhost:1883"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"invalid setting: {message}")
    return s
