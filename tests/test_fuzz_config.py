"""The config file, fuzzed: any ``config.toml`` text gives settings of their declared types
or a ``ConfigError`` with a message, for the daemon's keys and the ``[mqtt]`` table alike.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamchill.streamer.config import CONFIG_FILE, Settings, load_settings, read_config_file
from streamchill.streamer.errors import ConfigError
from streamchill.streamer.mqtt.settings import MqttSettings

# -- the config file ---------------------------------------------------------------------

SETTING_NAMES = [f.name for f in fields(Settings) if f.name != "config_dir"]
TOML_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
TOML_SCALAR = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | TOML_TEXT
    | st.sampled_from([0, 1, 8765, 65536, -1, 0.5, 1e9, "none", "off", "", "mqtt://x", "info"])
)
TOML_VALUE = st.recursive(
    TOML_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TOML_TEXT, inner, max_size=2),
    max_leaves=5,
)


def toml_value(value: Any) -> str:
    """A TOML literal for ``value`` (inline tables and arrays for containers)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def config_files(draw: st.DrawFn) -> str:
    """config.toml text: known and unknown keys with right and wrong values, at top level
    or in a ``[daemon]`` table, sometimes with an ``[mqtt]`` table; or any text at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    keys = draw(st.lists(st.sampled_from([*SETTING_NAMES, "daemon", "bogus"]), max_size=5))
    body = {k: draw(TOML_VALUE) for k in keys}
    lines = [f"{k} = {toml_value(v)}" for k, v in body.items()]
    if draw(st.booleans()):
        lines.insert(0, "[daemon]")
    if draw(st.booleans()):
        mqtt_keys = ["username", "password", "topic_prefix", "node_id", "discovery_prefix",
                     "backoff_min_s", "backoff_max_s", "keepalive_s", "auth_backoff_s",
                     "tls_ca_file", "bogus"]  # fmt: skip
        table = draw(st.dictionaries(st.sampled_from(mqtt_keys), TOML_VALUE, max_size=4))
        lines += ["[mqtt]", *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def declared_type_holds(name: str, value: Any) -> bool:
    kind = str(next(f.type for f in fields(Settings) if f.name == name))
    if value is None:
        return "None" in kind
    if kind.startswith("int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind.startswith("float"):
        return isinstance(value, float)
    if kind.startswith("tuple"):
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


@given(text=config_files())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_config_file_gives_typed_settings_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    directory = tmp_path_factory.mktemp("cfg")
    (directory / CONFIG_FILE).write_text(text, encoding="utf-8")
    try:
        s = load_settings(directory, env={})
    except ConfigError as exc:
        assert str(exc)  # a message that says what is wrong
    else:
        for name in SETTING_NAMES:
            assert declared_type_holds(name, getattr(s, name)), (name, getattr(s, name))
    try:
        mqtt = MqttSettings.from_url("mqtt://127.0.0.1:1883", env={},
                                     config=read_config_file(directory))  # fmt: skip
    except ConfigError as exc:
        assert str(exc)
    else:
        for name in ("username", "password", "tls_ca_file"):
            assert getattr(mqtt, name) is None or isinstance(getattr(mqtt, name), str)
        assert isinstance(mqtt.keepalive_s, int) and 5 <= mqtt.keepalive_s <= 65535


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ('allowed_origins = {"chrome-extension://a" = 1}', "allowed_origins"),
        ('allowed_hosts = {h = "x"}', "allowed_hosts"),
    ],
)
def test_a_table_where_a_list_belongs_is_refused(tmp_path: Path, text: str, culprit: str) -> None:
    """A TOML table is not a list of names (it used to be taken as its keys, silently)."""
    (tmp_path / CONFIG_FILE).write_text(text + "\n")
    with pytest.raises(ConfigError, match=culprit):
        load_settings(tmp_path, env={})
