"""End to end in real Firefox ESR (Debian's ``firefox-esr``, headless, Marionette): the
extension's Firefox build as a temporary add-on, the real daemon, a local page that loops the
shipped calm example in an <audio> element, tapped by the content script.

Firefox gives the add-on a ``moz-extension://<uuid>`` origin no allow-list can know, so it
pairs by token: the options page's connection test fails without it and passes with it.

Run: ``.venv/bin/python -m pytest -m browser tests/test_extension_firefox.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    REPO,
    Daemon,
    EventsSubscriber,
    media_page,
    real_daemon_available,
    serve_directory,
    start_real_daemon,
    wait_for,
)
from tests.support.daemon import raw_upgrade
from tests.support.firefox import (
    EXT_URL,
    FIREFOX,
    GECKO_ID,
    IDLE_TIMEOUT_MS,
    Firefox,
    launch_firefox,
)
from tests.support.mosquitto import free_port
from tests.support.pulse import PulseServer, pulse
from tests.support.sink_recorder import AUDIBLE_RMS, SinkRecorder

__all__ = ["pulse"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(240),
]


def build_firefox_extension(out: Path) -> Path:
    """The Firefox build, made by the same script a developer runs."""
    subprocess.run([str(REPO / "scripts" / "build-extension"), "firefox", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    return out


#: The pinned linter scripts/setup-venv installs beside the interpreter running the tests.
WEB_EXT = Path(sys.prefix) / "web-ext" / "node_modules" / ".bin" / "web-ext"
#: What the linter may say, and why it is fine: calls behind feature checks (Chrome's
#: offscreen documents and tab capture; sw.js and popup.js test for them before use).
EXPECTED_LINT_WARNINGS = {
    ("UNSUPPORTED_API", "sw.js", "offscreen.createDocument is not supported"),
    ("UNSUPPORTED_API", "sw.js", "offscreen.closeDocument is not supported"),
    ("UNSUPPORTED_API", "popup.js", "tabCapture.getMediaStreamId is not supported"),
}


def calm_example() -> Path:
    found = sorted((REPO / "models" / "examples").glob("calm-*.ogg"))
    if not found:
        pytest.fail("no shipped example models/examples/calm-*.ogg")
    return found[0]


def run_daemon(tmp: Path, port: int = 0) -> Any:
    if not real_daemon_available():
        pytest.fail("`streamchill daemon` is not available: run ./scripts/check")
    return start_real_daemon(tmp, port=port)


def text_of(ff: Firefox, element_id: str) -> str:
    return str(ff.js("return document.getElementById(arguments[0]).textContent;", element_id))


def save_settings(ff: Firefox) -> None:
    ff.js("document.getElementById('saved').textContent = '';")
    ff.js("document.getElementById('save').click();")
    wait_for(lambda: text_of(ff, "saved") == "Saved.", 10, what="the settings to be saved")


def connection_verdict(ff: Firefox, token: str) -> str:
    """Type ``token`` into the options page, press *Test connection*, return the verdict."""
    ff.js("document.getElementById('token').value = arguments[0];", token)
    ff.js("document.getElementById('test-result').textContent = '';")
    ff.js("document.getElementById('test').click();")
    # The page waits up to 10 s for a socket Firefox may hold back (options.js).
    return str(wait_for(lambda: (t := text_of(ff, "test-result")) != "Connecting…" and t,
                        timeout_s=15, what="the connection test"))  # fmt: skip


def configure(ff: Firefox, daemon: Daemon) -> None:
    """Pair through the options page as a user would: address, token, allowed site."""
    options = ff.open_tab(f"{EXT_URL}/options.html")
    wait_for(lambda: ff.js("return document.getElementById('daemonAddress').value"), 10,
             what="the options page")  # fmt: skip
    ff.js("document.getElementById('daemonAddress').value = arguments[0];",
          f"127.0.0.1:{daemon.port}")  # fmt: skip
    ff.js("document.getElementById('allowedSites').value = 'youtube.com\\n127.0.0.1';")
    ff.js("document.getElementById('rem-enabled').checked = false;")
    # A Firefox install is not on the daemon's allow-list: without the token it is refused,
    # and the page tells that apart from no daemon at all (a port nobody listens on). The
    # daemon says why (a close code after the handshake), so a wrong token is named too.
    refused = connection_verdict(ff, "")
    assert "refused this extension: missing token" in refused, refused
    assert "`streamchill token`" in refused, refused
    assert "wrong token" in connection_verdict(ff, "not-the-token"), text_of(ff, "test-result")
    # Saved so, the popup says the same (not "no daemon"), with the command that prints it.
    save_settings(ff)
    ff.open_tab(f"{EXT_URL}/popup.html")
    wait_for(lambda: not ff.js("return document.getElementById('refused').classList"
                               ".contains('hidden')"), 10, what="the refused notice")  # fmt: skip
    assert "streamchill token" in text_of(ff, "refused")
    assert ff.js("return document.getElementById('no-daemon').classList.contains('hidden')")
    ff.client.switch_to_window(options)
    ff.js("document.getElementById('daemonAddress').value = arguments[0];",
          f"127.0.0.1:{free_port()}")  # fmt: skip
    assert connection_verdict(ff, daemon.token).startswith("No daemon at"), text_of(
        ff, "test-result"
    )
    ff.js("document.getElementById('daemonAddress').value = arguments[0];",
          f"127.0.0.1:{daemon.port}")  # fmt: skip
    assert connection_verdict(ff, daemon.token).startswith("Connected"), text_of(ff, "test-result")
    save_settings(ff)
    settings = ff.storage_get("local", "settings")
    assert settings["token"] == daemon.token and "127.0.0.1" in settings["allowedSites"]


def ours(message: dict[str, Any], kind: str) -> bool:
    return message.get("type") == kind and str(message.get("stream", "")).startswith("tab-")


def resumed(message: dict[str, Any], stream: str) -> bool:
    """Whether a restarted daemon's subscriber ``message`` shows ``stream`` live again.

    Its ``stream_start``, or the ``welcome`` listing it: the add-on asks ``/healthz`` every
    second or so while the daemon is away and often reconnects before the test's own
    subscriber does, and a ``stream_start`` is published once, never replayed to a later
    subscriber (docs/protocol.md), which gets the live streams in its welcome instead.
    """
    if message.get("type") == "welcome":
        return stream in message.get("streams", [])
    return ours(message, "stream_start") and message["stream"] == stream


def seen(events: EventsSubscriber) -> str:
    """What a subscriber got, for a failure's note: each message's type and stream."""
    return ", ".join(f"{m.get('type')}:{m.get('stream', m.get('streams', ''))}"
                     for m in events.messages[-40:])  # fmt: skip


def stays(predicate: Any, seconds: float, what: str) -> None:
    """Assert ``predicate()`` holds at every look for ``seconds`` (the span is the point)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), what
        time.sleep(0.25)


def assert_audible(rec: SinkRecorder, when: str) -> None:
    """Firefox plays into the private PulseAudio sink: the page must be heard ``when``.
    (Firefox's ``mozCaptureStream()`` would silence the element; ``captureStream()`` does not.)"""
    rms = rec.quietest_block_rms(1.0)
    assert rms > AUDIBLE_RMS, f"the page went silent {when} (quietest block RMS {rms:.4f})"


def test_firefox_extension_end_to_end(tmp_path: Path, pulse: PulseServer) -> None:
    if not Path(FIREFOX).exists():
        pytest.fail(f"{FIREFOX} missing: scripts/setup-system installs firefox-esr")
    ext = build_firefox_extension(tmp_path / "extension-firefox")
    site = media_page(tmp_path / "site", calm_example())
    with (
        serve_directory(site) as http_port,
        SinkRecorder(pulse) as rec,
        launch_firefox(tmp_path / "profile", env=pulse.env) as ff,
    ):
        try:
            _run(ff, rec, tmp_path, ext, http_port)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                exc.add_note(f"event page: {ff.background_state()}")
            with contextlib.suppress(Exception):
                ff.open_tab(f"{EXT_URL}/popup.html")
                # Read now, after every daemon the test ran has stopped.
                live = json.dumps(ff.storage_get("session", "live"))[:3000]
                exc.add_note(f"live state (after the daemons stopped): {live}")
            exc.add_note(f"firefox log tail:\n{ff.log_tail()}")
            raise


def _run(ff: Firefox, rec: SinkRecorder, tmp: Path, ext: Path, http_port: int) -> None:
    assert ff.install_extension(ext) == GECKO_ID
    with run_daemon(tmp / "daemon") as daemon:
        port = daemon.port
        # The add-on's own origin with the token, at the raw HTTP level (without it the daemon
        # closes the socket with 4401 or 4403, which the options page names below).
        host = {"Host": f"127.0.0.1:{port}", "Origin": EXT_URL}
        assert raw_upgrade(port, f"/v1/events?token={daemon.token}", host)[0] == 101
        configure(ff, daemon)
        events = EventsSubscriber(daemon)
        try:
            media = ff.open_tab(f"http://127.0.0.1:{http_port}/")
            wait_for(lambda: ff.js("return !document.getElementById('player').paused"), 15,
                     what="the page to play")  # fmt: skip
            start = events.wait(lambda m: ours(m, "stream_start"), 30, "the add-on's stream_start")
            stream = start["stream"]
            assert start["source"] == "extension" and start["title"] == "Calm example", start
            mood = events.wait(lambda m: m.get("type") == "mood" and m.get("stream") == stream
                               and m.get("state") == "calm", 60, "a calm mood event")  # fmt: skip
            assert mood["calm_probability"] >= 0.5, mood
            assert_audible(rec, "while the extension taps it")

            # Streaming keeps the event page (and the engine in its frame) loaded: well past
            # the profile's idle timeout it still runs, with the one stream it started.
            # (mood events come once a second of audio: count twice the timeout's worth more)
            def our_moods() -> int:
                return sum(m.get("type") == "mood" and m.get("stream") == stream
                           for m in events.messages)  # fmt: skip

            more = our_moods() + 2 * IDLE_TIMEOUT_MS // 1000
            wait_for(lambda: our_moods() > more, 30, what="mood events past the idle timeout")
            assert ff.background_state() == "running"
            assert [m["type"] for m in events.messages if m.get("stream") == stream
                    and m["type"] != "mood"] == ["stream_start"]  # fmt: skip
        finally:
            events.close()
        # The popup (opened as a tab) shows it; the tap is captureStream(), its PCM
        # crossed the runtime port as typed arrays.
        ff.open_tab(f"{EXT_URL}/popup.html")
        wait_for(lambda: ff.js("return document.getElementById('state').dataset.state") == "calm",
                 30, what="the popup to show calm")  # fmt: skip
        live = ff.storage_get("session", "live")
        capture = live["streams"][stream]["capture"]
        assert capture["tap"] == "captureStream", capture
        assert capture["converter"] == "worklet", capture
        assert capture["port"] == "typed-array", capture
        assert capture["input_rate_hz"] > 16_000, capture
        assert ff.js(
            "return document.getElementById('use-tabcapture').classList.contains('hidden')"
        )
    # Daemon gone: the popup says so. Back on the same port: the stream resumes by itself.
    wait_for(lambda: not ff.js("return document.getElementById('no-daemon').classList"
                               ".contains('hidden')"), 20, what="the no-daemon notice")  # fmt: skip
    # With no extension page open and no daemon, only the tab's PCM (port messages into the
    # engine frame, an API event Firefox counts as activity) keeps the event page loaded:
    # it stays `running` through an outage longer than the idle timeout.
    ff.client.close()
    ff.client.switch_to_window(media)
    stays(lambda: ff.background_state() == "running", 2 * IDLE_TIMEOUT_MS / 1000,
          "Firefox unloaded the streaming event page while the daemon was away")  # fmt: skip
    with run_daemon(tmp / "daemon", port=port) as second:
        events = EventsSubscriber(second)
        try:
            events.wait(lambda m: resumed(m, stream), 40,
                        "the stream after the daemon's restart")  # fmt: skip
            events.wait(lambda m: m.get("type") == "mood" and m.get("stream") == stream, 20,
                        "mood events after the restart")  # fmt: skip
            # Stop from the popup: the stream ends at the daemon, the popup clears.
            ff.open_tab(f"{EXT_URL}/popup.html")
            wait_for(lambda: ff.js("return !document.getElementById('stop').classList"
                                   ".contains('hidden')"), 10, what="the popup's Stop")  # fmt: skip
            ff.js("document.getElementById('stop').click();")
            events.wait(lambda m: ours(m, "stream_end") and m["stream"] == stream, 15,
                        "stream_end after Stop")  # fmt: skip
            wait_for(lambda: ff.js("return document.getElementById('state').dataset.state")
                     == "none", 10, what="the popup to clear")  # fmt: skip
            assert_audible(rec, "after Stop")
        except BaseException as exc:
            # Noted while the daemon still runs (the outer notes come after it stopped).
            exc.add_note(f"restarted daemon's subscriber got: {seen(events)}")
            raise
        finally:
            events.close()
    # The breathing page is shared too: a session starts breathing in.
    ff.open_tab(f"{EXT_URL}/breathe.html?pattern=sigh&length_s=9&autostart=1")
    wait_for(lambda: ff.js("return document.getElementById('cue').dataset.phase") == "inhale",
             10, what="the breathing cue")  # fmt: skip


def test_web_ext_lint_is_clean(tmp_path: Path) -> None:
    """Mozilla's linter (offline) on the Firefox build: no errors, no notices, and warnings
    only for the feature-checked Chrome-only calls listed above."""
    if not WEB_EXT.exists():
        pytest.fail(f"{WEB_EXT} missing: scripts/setup-venv dev installs the pinned web-ext")
    ext = build_firefox_extension(tmp_path / "extension-firefox")
    out = subprocess.run(
        [str(WEB_EXT), "lint", "--source-dir", str(ext), "--output", "json", "--no-input"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "NO_UPDATE_NOTIFIER": "1"},
    )  # fmt: skip
    report = json.loads(out.stdout)
    found = {(m["code"], m.get("file"), m["message"]) for m in report["warnings"]}
    assert report["errors"] == [] and report["notices"] == [], out.stdout
    assert found <= EXPECTED_LINT_WARNINGS, found - EXPECTED_LINT_WARNINGS
