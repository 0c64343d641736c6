"""MQTT settings: where the broker is, who we are on it, and how hard we retry.

Kept apart from :mod:`.publisher` so the daemon's CLI can parse and validate
``--mqtt`` at start-up (a typo should fail before any audio flows) without importing
the publisher. Credentials come from the config file or the environment, never from
the URL or a flag: a password on the command line ends up in shell history and in
``ps`` output for every local user.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from streamchill.streamer.errors import ConfigError

ENV_USERNAME = "STREAMCHILL_MQTT_USERNAME"
ENV_PASSWORD = "STREAMCHILL_MQTT_PASSWORD"

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}

# Topic levels and Home Assistant object ids must avoid MQTT wildcards (+ #), level
# separators (/) and anything HA would mangle; this set is safe in both.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")

# Keys accepted in the ``[mqtt]`` section of the config file (besides the credentials).
_CONFIG_KEYS = {
    "username",
    "password",
    "topic_prefix",
    "node_id",
    "discovery_prefix",
    "backoff_min_s",
    "backoff_max_s",
    "auth_backoff_s",
    "keepalive_s",
    "tls_ca_file",
}


def sanitize_id(name: str) -> str:
    """Turn a free-form name (stream, host) into a topic level / HA object id.

    Names that are already safe are kept as they are, so topics stay readable
    (``tab-42``, ``system``). Anything else is squashed and suffixed with a short hash of
    the original, so two different names never land on the same topic.
    """
    if _SAFE_ID.match(name):
        return name
    squashed = _UNSAFE_CHARS.sub("_", name).strip("_")[:48] or "stream"
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{squashed}-{digest}"


def default_node_id() -> str:
    """The host name, made safe: one daemon per machine is the common case."""
    return sanitize_id(socket.gethostname().split(".")[0] or "streamchill")


@dataclass(frozen=True)
class MqttSettings:
    """Validated MQTT settings; construct with :meth:`from_url` from user input."""

    url: str
    """``mqtt://host[:port]`` (plain TCP, default port 1883) or ``mqtts://`` (TLS, 8883)."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    topic_prefix: str = "streamchill"
    """First topic level(s) of everything we publish except discovery."""
    node_id: str = field(default_factory=default_node_id)
    """This daemon's name on the bus; two daemons on one broker need different ids."""
    discovery_prefix: str = "homeassistant"
    """Home Assistant's discovery prefix; its birth topic is ``<prefix>/status``."""
    backoff_min_s: float = 1.0
    """First reconnect delay in seconds; doubles per failed attempt (with jitter)."""
    backoff_max_s: float = 30.0
    """Cap on the reconnect delay, in seconds."""
    keepalive_s: int = 30
    """MQTT keepalive in seconds: the broker publishes our last will after ~1.5x this."""
    auth_backoff_s: float = 60.0
    """Delay after the broker refused our credentials, in seconds: retrying sooner
    cannot help until someone fixes the password, and would flood the broker's log."""
    tls_ca_file: str | None = None
    """CA bundle for ``mqtts://`` brokers with a private CA; the system store otherwise."""

    def __post_init__(self) -> None:
        self._split()  # validates the URL
        if self.password is not None and not self.username:
            raise ConfigError("MQTT password given without a username")
        _check_topic_prefix("topic_prefix", self.topic_prefix)
        _check_topic_prefix("discovery_prefix", self.discovery_prefix)
        if not _SAFE_ID.match(self.node_id):
            raise ConfigError(
                f"MQTT node_id {self.node_id!r} must be 1-64 characters of A-Z a-z 0-9 _ -"
            )
        for name in ("backoff_min_s", "backoff_max_s", "auth_backoff_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise ConfigError(
                    f"MQTT {name} must be a positive number of seconds, got {value!r}"
                )
        if self.backoff_max_s < self.backoff_min_s:
            raise ConfigError(
                f"MQTT backoff_max_s ({self.backoff_max_s}) is below backoff_min_s "
                f"({self.backoff_min_s})"
            )
        if not isinstance(self.keepalive_s, int) or not 5 <= self.keepalive_s <= 65535:
            raise ConfigError(
                f"MQTT keepalive_s must be an integer 5..65535, got {self.keepalive_s!r}"
            )
        if self.tls_ca_file is not None and not self.tls:
            raise ConfigError("MQTT tls_ca_file only applies to mqtts:// URLs")

    def _split(self) -> tuple[str, str, int]:
        try:
            parts = urlsplit(self.url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"invalid MQTT URL {self.url!r}: {exc}") from None
        if parts.scheme not in DEFAULT_PORTS:
            raise ConfigError(
                f"invalid MQTT URL {self.url!r}: use mqtt://host[:port] or mqtts://host[:port]"
            )
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                "put MQTT credentials in the config file or in "
                f"{ENV_USERNAME} / {ENV_PASSWORD}, not in the URL (it ends up in shell history)"
            )
        if not parts.hostname:
            raise ConfigError(f"invalid MQTT URL {self.url!r}: no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"invalid MQTT URL {self.url!r}: no path or query allowed")
        return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]

    @property
    def host(self) -> str:
        """Broker host name or address."""
        return self._split()[1]

    @property
    def port(self) -> int:
        """Broker TCP port."""
        return self._split()[2]

    @property
    def tls(self) -> bool:
        """True for ``mqtts://``."""
        return self._split()[0] == "mqtts"

    @property
    def base_topic(self) -> str:
        """``<topic_prefix>/<node_id>``: every non-discovery topic lives under it."""
        return f"{self.topic_prefix}/{self.node_id}"

    @property
    def availability_topic(self) -> str:
        """Retained ``online``/``offline``; ``offline`` is also our last will."""
        return f"{self.base_topic}/availability"

    @property
    def ha_status_topic(self) -> str:
        """Where Home Assistant announces itself (its birth message)."""
        return f"{self.discovery_prefix}/status"

    def redacted_url(self) -> str:
        """The URL with the user named, for log lines (the password never appears)."""
        scheme, host, port = self._split()
        who = f"{self.username}@" if self.username else ""
        return f"{scheme}://{who}{host}:{port}"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        env: Mapping[str, str] = os.environ,
        config: Mapping[str, Any] | None = None,
    ) -> MqttSettings:
        """Build settings from the ``--mqtt`` URL, the config file and the environment.

        ``config`` is the whole parsed ``config.toml``; the MQTT settings are its
        ``[mqtt]`` table (a top-level ``mqtt`` string is the daemon's broker URL, not ours).
        The environment overrides the file for the credentials, so a service manager can
        inject secrets without editing files. Raises :class:`ConfigError` with a message
        that names the offending setting.
        """
        table = (config or {}).get("mqtt")
        section: Mapping[str, Any] = table if isinstance(table, Mapping) else {}
        unknown = set(section) - _CONFIG_KEYS
        if unknown:
            raise ConfigError(
                f"unknown key(s) {sorted(unknown)} in the [mqtt] table of the config file; "
                f"known: {sorted(_CONFIG_KEYS)}"
            )
        kwargs: dict[str, Any] = {k: section[k] for k in _CONFIG_KEYS if k in section}
        if env.get(ENV_USERNAME):
            kwargs["username"] = env[ENV_USERNAME]
        if env.get(ENV_PASSWORD):
            kwargs["password"] = env[ENV_PASSWORD]
        for key in ("username", "password", "topic_prefix", "node_id", "discovery_prefix"):
            if key in kwargs and not isinstance(kwargs[key], str):
                raise ConfigError(f"MQTT {key} must be a string")
        return cls(url=url, **kwargs)


def _check_topic_prefix(name: str, value: str) -> None:
    if (
        not isinstance(value, str)
        or not value
        or value.startswith(("/", "$"))
        or value.endswith("/")
        or "//" in value
        or any(c in value for c in "+#\0")
    ):
        raise ConfigError(
            f"MQTT {name} {value!r} must be a non-empty topic without wildcards (+ #), "
            "without a leading $ or / and without a trailing /"
        )
