"""Who may talk to the daemon: the token file, the Host rule and the Origin/token gate."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.datastructures import Headers

from streamchill.streamer.errors import ConfigError
from streamchill.streamer.server.auth import (
    DEFAULT_ORIGINS,
    Gate,
    host_is_allowed,
    load_or_create_token,
    read_token,
)

TOKEN = "s3cret-token-of-enough-length"
EXTENSION = DEFAULT_ORIGINS[0]


def gate() -> Gate:
    return Gate(TOKEN)


def headers(**values: str) -> Headers:
    h = Headers()
    h["Host"] = values.pop("Host", "127.0.0.1:8765")
    for key, value in values.items():
        h[key.replace("_", "-")] = value
    return h


def test_the_token_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    config = tmp_path / "streamchill"
    token = load_or_create_token(config)
    path = config / "token"
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert load_or_create_token(config) == token == read_token(config)


def test_a_token_file_others_can_read_is_tightened(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    (tmp_path / "token").chmod(0o644)
    assert read_token(tmp_path) == token
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


def test_clients_get_a_clear_error_before_the_daemon_ever_ran(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="start `streamchill daemon`"):
        read_token(tmp_path)


def test_an_empty_token_file_is_an_error_not_an_open_door(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    (tmp_path / "token").chmod(0o600)
    with pytest.raises(ConfigError, match="no usable token"):
        load_or_create_token(tmp_path)


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8765", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8765",
             "LOCALHOST:8765"],
)  # fmt: skip
def test_loopback_hosts_are_allowed(host: str) -> None:
    assert host_is_allowed(host)


@pytest.mark.parametrize(
    "host", [None, "", "evil.example", "evil.example:8765", "127.0.0.1.evil.example",
             "localhost.evil.example", "127.0.0.2", "[::2]", "[::1", "localhost:abc",
             "localhost:8765:1", "0.0.0.0"],
)  # fmt: skip
def test_other_hosts_are_refused(host: str | None) -> None:
    assert not host_is_allowed(host)


def test_extra_hosts_can_be_allowed_explicitly() -> None:
    assert host_is_allowed("my-box.lan:8765", ["my-box.lan"])


def test_the_allowed_extension_needs_no_token() -> None:
    decision = gate().check("/v1/events", headers(Origin=EXTENSION))
    assert decision.allowed and decision.via == "origin"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost:8765", "file://",
               "moz-extension://", "moz-extension://abc/def", "moz-extension:abc",
               "resource://gre", "about:blank", "http://moz-extension.example"],
)  # fmt: skip
def test_any_other_origin_is_refused_even_with_the_token(origin: str) -> None:
    decision = gate().check(
        f"/v1/events?token={TOKEN}", headers(Origin=origin, Authorization=f"Bearer {TOKEN}")
    )
    assert not decision.allowed and decision.status == 403 and "Origin" in decision.reason


FIREFOX = "moz-extension://2b8a6f1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize("origin", [FIREFOX, "chrome-extension://abcdefghijklmnop"])
def test_an_extension_origin_not_allow_listed_passes_only_with_the_token(origin: str) -> None:
    g = gate()
    for path, extra in [("/v1/audio", {}), ("/v1/events", {"Authorization": "Bearer nope"}),
                        ("/v1/events?token=nope", {}), ("/healthz", {})]:  # fmt: skip
        decision = g.check(path, headers(Origin=origin, **extra))
        assert not decision.allowed and decision.status == 403, path
        assert "not allow-listed" in decision.reason and "token" in decision.reason
        # An upgrade is closed with a code that tells a missing token from a wrong one.
        missing = path == "/v1/audio" or path == "/healthz"
        assert decision.close_code == (4401 if missing else 4403), path
    assert g.check(f"/v1/audio?token={TOKEN}", headers(Origin=origin)).via == "extension-token"
    bearer = headers(Origin=origin.upper(), Authorization=f"Bearer {TOKEN}")
    assert g.check("/v1/events", bearer).via == "extension-token"


def test_an_extension_origin_with_the_token_still_needs_a_loopback_host() -> None:
    decision = gate().check(
        f"/v1/audio?token={TOKEN}", headers(Host="evil.example", Origin=FIREFOX)
    )
    assert not decision.allowed and "Host" in decision.reason


def test_two_origin_headers_are_refused() -> None:
    h = headers(Origin=EXTENSION)
    h["Origin"] = "https://evil.example"
    assert not gate().check("/v1/events", h).allowed
    h = headers(Origin=FIREFOX, Authorization=f"Bearer {TOKEN}")
    h["Origin"] = FIREFOX
    assert not gate().check("/v1/events", h).allowed


def test_without_origin_the_token_is_required() -> None:
    g = gate()
    assert not g.check("/v1/audio", headers()).allowed
    assert not g.check("/v1/audio", headers(Authorization="Bearer nope")).allowed
    assert not g.check("/v1/audio", headers(Authorization=f"Basic {TOKEN}")).allowed
    assert not g.check("/v1/audio?token=", headers()).allowed
    assert g.check("/v1/audio", headers(Authorization=f"Bearer {TOKEN}")).via == "token"
    assert g.check(f"/v1/audio?token={TOKEN}", headers()).via == "token"


def test_healthz_needs_no_token_but_still_the_host_and_origin_rules() -> None:
    g = gate()
    assert g.check("/healthz", headers()).via == "public"
    assert not g.check("/healthz", headers(Host="evil.example")).allowed
    assert not g.check("/healthz", headers(Origin="https://evil.example")).allowed


def test_the_host_rule_comes_first() -> None:
    decision = gate().check("/v1/events", headers(Host="evil.example", Origin=EXTENSION))
    assert not decision.allowed and "Host" in decision.reason


def test_a_short_token_is_refused_at_construction() -> None:
    with pytest.raises(ConfigError):
        Gate("short")


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60))
@settings(max_examples=300, deadline=None)
def test_only_the_exact_token_opens_the_gate(presented: str) -> None:
    for candidate in (presented, TOKEN[:-1] + presented[:1], presented + TOKEN):
        decision = gate().check("/v1/stats", headers(Authorization=f"Bearer {candidate}"))
        assert decision.allowed == (candidate == TOKEN)
