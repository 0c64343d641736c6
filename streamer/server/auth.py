"""Who may talk to the daemon: checked on the raw HTTP request, before any WebSocket handshake.

Any web page can open a connection to ``ws://127.0.0.1``, so the rules are:

1. ``Host`` must name the loopback (``localhost``, ``127.0.0.1``, ``[::1]``, any port) or a
   host the user explicitly allowed; otherwise a page on ``evil.example`` that re-pointed its
   DNS name at 127.0.0.1 (DNS rebinding) could read our answers.
2. An ``Origin`` header, when present, must be an allow-listed extension origin
   (``chrome-extension://<id>``), or another browser extension's origin *with* the token.
   Browsers always send it on WebSocket upgrades and cross-origin requests, and pages cannot
   forge it, so web pages and ``null`` are refused, token or not. Firefox gives each install
   a random ``moz-extension://<uuid>``, which no allow-list can know in advance: such an
   origin is paired by the token the user pastes into the options page. Its WebSocket
   upgrades without the right token are refused *after* the handshake, with close code
   :data:`CLOSE_MISSING_TOKEN` or :data:`CLOSE_WRONG_TOKEN` (``Decision.close_code``), not
   HTTP 403: a browser script cannot read a refused upgrade's status, so the extension
   could not tell a refusal from a daemon restarting; and Firefox counts every failed
   upgrade against the port and holds the next socket back longer (up to a minute), so an
   extension refused before its token was pasted would wait that long once it had it.
3. Without an ``Origin`` (CLI tools, scripts), the token is required, as
   ``Authorization: Bearer <token>`` or ``?token=<token>``; ``/healthz`` is exempt.

The token is 256 random bits in ``<config dir>/token`` (mode 0600), compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from streamchill.streamer.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_EXTENSION_ID = "cjpikdgbceefcbkpjabodpmgjgfbfjjp"
DEFAULT_ORIGINS = (f"chrome-extension://{DEFAULT_EXTENSION_ID}",)
"""The shipped extension; users add their own unpacked build's id in the config file."""
EXTENSION_SCHEMES = frozenset({"chrome-extension", "moz-extension"})
"""Origins of browser extensions: not allow-listed ones may pass with the token (rule 2)."""
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
PUBLIC_PATHS = frozenset({"/healthz"})
"""Paths that need no token (still subject to the Host and Origin rules)."""
TOKEN_FILE = "token"
CLOSE_MISSING_TOKEN = 4401
"""Close code for an extension's socket that presented no token (rule 2)."""
CLOSE_WRONG_TOKEN = 4403
"""Close code for an extension's socket whose token is not the daemon's (rule 2)."""
MISSING_TOKEN = "missing token (Authorization: Bearer, or ?token=)"
WRONG_TOKEN = "wrong token"
EXTENSION_CLOSE = {
    MISSING_TOKEN: (CLOSE_MISSING_TOKEN, "missing token: `streamchill token` prints it"),
    WRONG_TOKEN: (CLOSE_WRONG_TOKEN, "wrong token: `streamchill token` prints the daemon's"),
}
"""A token refusal -> the close code and short reason an extension's socket gets (rule 2)."""


def load_or_create_token(config_dir: Path) -> str:
    """The daemon's token, created on first run (0600, in a 0700 directory)."""
    path = config_dir / TOKEN_FILE
    try:
        config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the token file {path}: {exc.strerror}") from exc
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    log.info("created a new token in %s (show it with `streamchill token`)", path)
    return token


def read_token(config_dir: Path) -> str:
    """The existing token, for clients; a clear error if the daemon never ran here."""
    path = config_dir / TOKEN_FILE
    if not path.exists():
        raise ConfigError(f"no token at {path}: start `streamchill daemon` once to create it")
    return _read_token(path)


def _read_token(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # Another user could read it: tighten rather than refuse, and say so.
            path.chmod(0o600)
            log.warning("token file %s had mode %o; changed it to 600", path, mode)
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc.strerror}") from exc
    if len(token) < 16:
        raise ConfigError(f"token file {path} holds no usable token; delete it to make a new one")
    return token


def host_is_allowed(host_header: str | None, extra_hosts: Iterable[str] = ()) -> bool:
    """True if ``Host`` (with any port) is loopback or one of ``extra_hosts``."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        name, rest = host[: end + 1], host[end + 1 :]
    else:
        name, _, port = host.partition(":")
        rest = f":{port}" if port else ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit() and len(rest) <= 6):
        return False
    return name in LOOPBACK_HOSTS or name in {h.lower() for h in extra_hosts}


@dataclass(frozen=True)
class Decision:
    """Outcome of :meth:`Gate.check`: allowed, or refused with an HTTP status and a reason."""

    allowed: bool
    status: int = 200
    reason: str = ""
    via: str = ""
    """How an allowed request proved itself: ``origin``, ``token``, ``extension-token``
    (an extension origin that is not allow-listed, with the token) or ``public``."""
    close_code: int = 0
    """Nonzero: a WebSocket upgrade refused this way is completed and then closed with this
    code and a short reason (an extension without the right token), not answered 403."""
    close_reason: str = ""


class Gate:
    """Applies the rules above to one request's path and headers."""

    def __init__(
        self,
        token: str,
        *,
        allowed_origins: Iterable[str] = DEFAULT_ORIGINS,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        if len(token) < 16:
            raise ConfigError("the token must be at least 16 characters")
        self._token = token.encode()
        self.allowed_origins = frozenset(o.strip().rstrip("/").lower() for o in allowed_origins)
        self.allowed_hosts = frozenset(allowed_hosts)

    def check(self, path: str, headers: Headers) -> Decision:
        """Decide on a request given its target (path and query) and its headers."""
        hosts = headers.get_all("Host")
        if len(hosts) != 1 or not host_is_allowed(hosts[0], self.allowed_hosts):
            return Decision(False, 403, f"Host {_short(hosts)} is not a loopback name")
        url = urlsplit(path)
        origins = headers.get_all("Origin")
        if origins:
            origin = origins[0].strip().rstrip("/").lower()
            if len(origins) == 1 and origin in self.allowed_origins:
                return Decision(True, via="origin")
            if len(origins) != 1 or not _is_extension_origin(origin):
                return Decision(False, 403, f"Origin {_short(origins)} is not an allowed extension")
            # An extension we cannot know by origin (Firefox's per-install uuid): only the
            # token pairs it, on every path (no public exemption for an unknown extension).
            refused = self._token_refusal(headers, url.query)
            if refused:
                code, why = EXTENSION_CLOSE[refused]
                return Decision(
                    False,
                    403,
                    f"Origin {_short(origins)} is not allow-listed: {refused}",
                    close_code=code,
                    close_reason=why,
                )
            return Decision(True, via="extension-token")
        if url.path in PUBLIC_PATHS:
            return Decision(True, via="public")
        refused = self._token_refusal(headers, url.query)
        if refused:
            return Decision(False, 403, refused)
        return Decision(True, via="token")

    def _token_refusal(self, headers: Headers, query: str) -> str:
        """Why the presented token does not open the gate; empty if it does."""
        presented = _presented_token(headers, query)
        if presented is None:
            return MISSING_TOKEN
        if not hmac.compare_digest(presented.encode(), self._token):
            return WRONG_TOKEN
        return ""


class Headers(Protocol):
    """What the gate needs of request headers (``websockets.datastructures.Headers`` fits)."""

    def get_all(self, key: str) -> list[str]:
        """Every value of header ``key``, in order (empty if absent)."""
        ...


def _presented_token(headers: Headers, query: str) -> str | None:
    auth = headers.get_all("Authorization")
    if len(auth) == 1:
        scheme, _, value = auth[0].strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(query, keep_blank_values=True).get("token")
    if values and len(values) == 1:
        return values[0]
    return None


def _is_extension_origin(origin: str) -> bool:
    """``<extension scheme>://<id>`` with a non-empty id and nothing after it."""
    scheme, sep, rest = origin.partition("://")
    return bool(sep) and scheme in EXTENSION_SCHEMES and bool(rest) and "/" not in rest


def _short(values: list[str]) -> str:
    text = ", ".join(values) if values else "(none)"
    return repr(text[:80])
