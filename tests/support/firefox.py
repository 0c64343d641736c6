"""Debian's Firefox ESR driven through Marionette, with the extension's Firefox build installed
as a temporary add-on (no signing needed for those). Nothing is downloaded: the browser is
the system's ``firefox-esr`` and the client is Mozilla's ``marionette-driver``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.browser import REPO, wait_for
from tests.support.mosquitto import free_port

FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
GECKO_ID = json.loads((REPO / "extension" / "manifest.firefox.json").read_text())[
    "browser_specific_settings"
]["gecko"]["id"]
#: Pinned for the test profile (``extensions.webextensions.uuids``); real installs get a
#: random one, which is why the daemon pairs them by token, not by origin.
ADDON_UUID = "5f1e0c2a-9b7d-4e36-8a41-2c6d7e8f9a0b"
EXT_URL = f"moz-extension://{ADDON_UUID}"

#: The test profile's idle timeout for event pages, in ms (Firefox's default: 30 000).
IDLE_TIMEOUT_MS = 5000

#: Profile preferences: a headless machine has no sound device, so Firefox's audio backend is
#: mocked (else an AudioContext stays "suspended"); a test page may autoplay; no network
#: chatter; the add-on's uuid is pinned so the test knows its origin.
PREFS: dict[str, Any] = {
    "media.cubeb.force_mock_context": True,
    "media.autoplay.default": 0,
    "media.autoplay.block-webaudio": False,
    "extensions.webextensions.uuids": json.dumps({GECKO_ID: ADDON_UUID}),
    # Firefox unloads an idle event page after 30 s; a short timeout lets a test show that
    # a streaming engine is never idle (Firefox.background_state).
    "extensions.background.idle.timeout": IDLE_TIMEOUT_MS,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reporting.enabled": False,
    "app.update.disabledForTesting": True,
    "browser.aboutwelcome.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "browser.region.network.url": "",
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
}


@dataclass
class Firefox:
    """A running Firefox and its Marionette session."""

    proc: subprocess.Popen[bytes]
    client: Any  # marionette_driver.marionette.Marionette
    log_path: Path

    def install_extension(self, unpacked: Path) -> str:
        """Install ``unpacked`` as a temporary add-on; returns the add-on id."""
        from marionette_driver.addons import Addons

        return str(Addons(self.client).install(str(unpacked), temp=True))

    def open_tab(self, url: str) -> str:
        """Open ``url`` in a new, selected tab and switch to it; returns its handle.

        WebDriver may not navigate to ``moz-extension://`` pages, so the browser itself loads
        the URL (as a click on a link in the add-on's UI would), through its chrome scope.
        """
        handle = str(self.client.open(type="tab", focus=True)["handle"])
        self.client.switch_to_window(handle)
        with self.client.using_context("chrome"):
            self.client.execute_script(
                "gBrowser.selectedBrowser.fixupAndLoadURIString(arguments[0], {"
                "  triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal()});",
                script_args=[url],
            )
        wait_for(lambda: self.js("return document.readyState === 'complete' && location.href")
                 == url, 15, what=f"{url} to load")  # fmt: skip
        return handle

    def background_state(self) -> str:
        """Our event page's state as Firefox tracks it: ``running``, ``suspending``, ``stopped``."""
        with self.client.using_context("chrome"):
            return str(self.client.execute_script(
                "const p = WebExtensionPolicy.getByID(arguments[0]);"
                "return p ? String(p.extension.backgroundState) : 'not installed';",
                script_args=[GECKO_ID],
            ))  # fmt: skip

    def js(self, script: str, *args: Any) -> Any:
        """Run ``script`` in the current tab (content scope) and return its value."""
        return self.client.execute_script(script, script_args=list(args))

    def storage_get(self, area: str, key: str) -> Any:
        """``browser.storage.<area>.get(key)[key]``, read in the current extension page.

        Marionette's scripts run in a sandbox beside the page: the page's own ``browser``
        object is reached through ``wrappedJSObject`` (an extension page's CSP forbids
        evaluating code inside it), and the value crosses back as JSON.
        """
        raw = self.client.execute_async_script(
            "const [area, key, done] = arguments;"
            "const w = window.wrappedJSObject;"
            "w.browser.storage[area].get(key).then("
            "  (v) => done(w.JSON.stringify(v[key] === undefined ? null : v[key])),"
            "  (e) => done(JSON.stringify({storage_error: String(e)})));",
            script_args=[area, key],
            script_timeout=15_000,
        )
        return json.loads(raw)

    def log_tail(self, n_chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]


@contextlib.contextmanager
def launch_firefox(profile: Path, env: dict[str, str] | None = None) -> Iterator[Firefox]:
    """Headless ``firefox-esr --marionette`` on a fresh profile; yields a started session.

    With ``env`` holding a private PulseAudio's ``PULSE_SERVER``, Firefox plays into it (a
    real sound device, so the test can listen); without one its audio backend is mocked.
    """
    from marionette_driver.marionette import Marionette

    profile.mkdir(parents=True, exist_ok=True)
    port = free_port()
    prefs = {**PREFS, "marionette.port": port}
    if env and "PULSE_SERVER" in env:
        del prefs["media.cubeb.force_mock_context"]
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
    )
    log_path = profile.parent / f"{profile.name}.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            FIREFOX,
            "--headless",
            "--marionette",
            "-remote-allow-system-access",
            "-no-remote",
            "--profile",
            str(profile),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1", **(env or {})},
        start_new_session=True,
    )
    client = None
    try:
        wait_for(lambda: _listening(port) or proc.poll() is not None, 60, what="Marionette")
        if proc.poll() is not None:
            raise RuntimeError(
                f"firefox-esr exited with {proc.returncode}:\n{log_path.read_text()}"
            )
        client = Marionette(host="127.0.0.1", port=port)
        client.start_session()
        yield Firefox(proc, client, log_path)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.delete_session()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False
