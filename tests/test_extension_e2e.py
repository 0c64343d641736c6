"""End to end in real headless Chromium: the unpacked extension, the real daemon, a local
page that loops the shipped calm example in an <audio> element.

Capture here goes through the content script (the page's own <audio>, on an allowed site);
the tab-capture path and audibility are tests/test_extension_capture.py.

Run: ``.venv/bin/python -m pytest -m browser tests/test_extension_e2e.py``.
Set ``STREAMCHILL_UPDATE_SCREENSHOTS=1`` to rewrite ``docs/screenshot-popup.png`` and
``docs/screenshot-breathe.png``.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    CHROMIUM,
    EXTENSION_ID,
    REPO,
    Daemon,
    launch_with_extension,
    media_page,
    real_daemon_available,
    serve_directory,
    start_real_daemon,
    wait_for,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(420),
]

EXT_URL = f"chrome-extension://{EXTENSION_ID}"
#: Reminder threshold for the test, in minutes (12 s of calm).
REMINDER_MINUTES = 0.2


def example(kind: str) -> Path:
    """The shipped example ``models/examples/<kind>-*.ogg``."""
    found = sorted((REPO / "models" / "examples").glob(f"{kind}-*.ogg"))
    if not found:
        pytest.fail(f"no shipped example models/examples/{kind}-*.ogg")
    return found[0]


def calm_example() -> Path:
    return example("calm")


def run_daemon(tmp: Path, port: int = 0) -> Any:
    """Context manager for the real daemon on ``port`` (0: any); the same ``tmp`` again
    gives the same config dir, hence the same token."""
    if not real_daemon_available():
        pytest.fail(
            "`streamchill daemon` is not available: run ./scripts/check, or pip install -e ."
        )
    return start_real_daemon(tmp, port=port)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with run_daemon(tmp_path / "daemon") as d:
        yield d


def configure(ctx: Any, port: int, calm_minutes: float = REMINDER_MINUTES) -> Any:
    """Set the extension up through its own options page, as a user would; returns the page."""
    options = ctx.new_page()
    options.goto(f"{EXT_URL}/options.html")
    options.wait_for_function("() => document.getElementById('daemonAddress').value !== ''")
    options.fill("#daemonAddress", f"127.0.0.1:{port}")
    options.fill("#allowedSites", "youtube.com\n127.0.0.1")
    options.fill("#calmMinutes", str(calm_minutes))
    options.uncheck("#qh-enabled")  # the test may run at night
    options.fill("#minGapMinutes", "0")
    options.fill("#dailyCap", "5")
    options.click("#save")
    options.wait_for_function("() => document.getElementById('saved').textContent === 'Saved.'")
    return options


def storage_get(page: Any, area: str, key: str) -> Any:
    return page.evaluate(f"async () => (await chrome.storage.{area}.get({key!r}))[{key!r}]")


def our_stream(daemon: Daemon) -> dict[str, Any] | None:
    streams = daemon.get("/v1/streams")["streams"]
    return next((s for s in streams if str(s["stream"]).startswith("tab-")), None)


def test_extension_end_to_end(tmp_path: Path, daemon: Daemon) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    site = media_page(tmp_path / "site", calm_example())
    speech = Path(shutil.copy(example("speech"), site))
    shots = REPO / "docs" if os.environ.get("STREAMCHILL_UPDATE_SCREENSHOTS") == "1" else tmp_path
    with serve_directory(site) as http_port, sync_playwright() as pw:
        ctx = launch_with_extension(pw, tmp_path / "profile")
        try:
            _run(ctx, daemon, http_port, shots, speech)
        except BaseException as exc:
            # Leave what the extension saw next to the failure.
            with contextlib.suppress(Exception):
                page = ctx.new_page()
                page.goto(f"{EXT_URL}/popup.html")
                live = storage_get(page, "session", "live")
                exc.add_note(f"live state: {str(live)[:3000]}")
            exc.add_note(f"daemon log tail:\n{daemon.log_tail()}")
            raise
        finally:
            ctx.close()


def _run(ctx: Any, daemon: Daemon, http_port: int, shots: Path, speech: Path) -> None:
    # The extension's id is the stable one the daemon's allowlist knows (manifest `key`).
    sw = ctx.service_workers[0] if ctx.service_workers else ctx.wait_for_event("serviceworker")
    assert sw.url.startswith(f"{EXT_URL}/"), sw.url

    options = configure(ctx, daemon.port)
    settings = storage_get(options, "local", "settings")
    assert settings["daemonAddress"] == f"127.0.0.1:{daemon.port}"
    assert settings["reminders"]["calmMinutes"] == REMINDER_MINUTES
    assert "127.0.0.1" in settings["allowedSites"]

    # The page plays the calm example; the content script taps its <audio>.
    page = ctx.new_page()
    page.goto(f"http://127.0.0.1:{http_port}/")
    page.wait_for_function("() => !document.getElementById('player').paused", timeout=15_000)

    # The daemon receives PCM: the stream is listed and its media time grows.
    first = wait_for(
        lambda: (s := our_stream(daemon)) and s["media_time_s"] > 1.0 and s,
        timeout_s=45,
        what="the extension's stream in /v1/streams",
    )
    t1 = time.monotonic()
    later = wait_for(
        lambda: (s := our_stream(daemon)) and s["media_time_s"] >= first["media_time_s"] + 5 and s,
        timeout_s=15,
        what="5 s more media time",
    )
    elapsed = time.monotonic() - t1
    assert later["stream"] == first["stream"]
    grown = later["media_time_s"] - first["media_time_s"]
    # Real time in, real time out: 16 kHz samples really are 16 kHz (the extension's own
    # downsampling); a wrong rate would make media time run 2.75-3x too fast or too slow.
    # The daemon reports media time per ~1 s hop, hence the slack.
    assert elapsed - 2.0 <= grown <= elapsed + 2.0, (grown, elapsed)

    # The page's audio went through the AudioWorklet (not the ScriptProcessor fallback),
    # downsampled in the extension from the device rate.
    live = storage_get(options, "session", "live")
    (entry,) = live["streams"].values()
    assert entry["capture"]["converter"] == "worklet", entry["capture"]
    assert entry["capture"]["tap"] == "captureStream", entry["capture"]
    assert entry["capture"]["input_rate_hz"] > 16_000, entry["capture"]
    # PCM crossed the runtime port as typed arrays (structured-clone messaging), not base64.
    assert entry["capture"]["port"] == "typed-array", entry["capture"]

    # The popup (opened as a tab) shows calm; the toolbar badge says so too.
    popup = ctx.new_page()
    popup.set_viewport_size({"width": 340, "height": 600})
    popup.goto(f"{EXT_URL}/popup.html")
    popup.wait_for_function(
        "() => document.getElementById('state').dataset.state === 'calm'", timeout=150_000
    )
    assert popup.inner_text("#state") == "Calm"
    assert popup.inner_text("#source").startswith("Analysing: Calm example")
    assert popup.evaluate("chrome.action.getBadgeText({})") == "calm"
    assert popup.is_hidden("#no-daemon")
    popup.wait_for_function("() => document.querySelectorAll('#timeline rect').length >= 3")
    prob = popup.inner_text("#calm-prob")
    assert prob.endswith("%") and int(prob.rstrip(" %")) >= 50, prob

    # After REMINDER_MINUTES of calm, a breathing break is offered (a notification only).
    pages_before = len(ctx.pages)
    log = wait_for(
        lambda: storage_get(popup, "local", "reminderLog"),
        timeout_s=REMINDER_MINUTES * 60 + 60,
        what="a reminder offer",
    )
    assert log[0]["notificationId"] == "streamchill-breathe"
    assert log[0]["error"] is None, log[0]
    assert len(ctx.pages) == pages_before  # never a tab or window opened by itself

    # The exercise page runs: the cue changes from inhale to exhale, the finish counts.
    breathe = ctx.new_page()
    breathe.goto(f"{EXT_URL}/breathe.html?pattern=sigh&length_s=9&autostart=1")
    phase = "() => document.getElementById('cue').dataset.phase"
    breathe.wait_for_function(f"() => ({phase})()", timeout=5_000)
    assert breathe.evaluate(phase) == "inhale"  # a session starts breathing in
    breathe.wait_for_function(f"() => ({phase})() === 'exhale'", timeout=10_000)
    breathe.screenshot(path=str(shots / "screenshot-breathe.png"))
    breathe.wait_for_selector("#finish:not(.hidden)", timeout=15_000)
    stats = storage_get(breathe, "local", "stats")
    assert stats["sessions"] == 1 and stats["streakDays"] == 1
    assert 0.1 < stats["minutes"] < 0.2

    # By now the timeline holds over half a minute of calm: the picture for the README.
    popup.bring_to_front()
    assert popup.inner_text("#state") == "Calm"
    popup.locator("main").screenshot(path=str(shots / "screenshot-popup.png"))

    # Someone starts talking: the popup and badge say speech, and the calm streak is gone.
    page.evaluate(
        "name => { const a = document.getElementById('player'); a.src = name; a.play(); }",
        speech.name,
    )
    popup.wait_for_function(
        "() => document.getElementById('state').dataset.state === 'speech'", timeout=60_000
    )
    assert popup.inner_text("#state") == "Speech"
    assert popup.evaluate("chrome.action.getBadgeText({})") == "talk"
    assert storage_get(popup, "local", "reminderState")["calmSinceMs"] is None

    # Stop from the popup: the stream ends at the daemon (bye), the badge clears.
    popup.click("#stop")
    wait_for(lambda: our_stream(daemon) is None, timeout_s=15, what="the stream to end")
    popup.wait_for_function("() => document.getElementById('state').dataset.state === 'none'")
    assert popup.evaluate("chrome.action.getBadgeText({})") == ""
    assert popup.is_visible("#start")


def test_extension_reconnects_after_daemon_restart(tmp_path: Path) -> None:
    """Daemon gone: the popup says so with the command to run; daemon back: streaming resumes."""
    from playwright.sync_api import sync_playwright

    site = media_page(tmp_path / "site", calm_example())
    with serve_directory(site) as http_port, sync_playwright() as pw:
        ctx = launch_with_extension(pw, tmp_path / "profile")
        try:
            with run_daemon(tmp_path / "daemon") as first:
                port = first.port
                configure(ctx, port, calm_minutes=60)
                page = ctx.new_page()
                page.goto(f"http://127.0.0.1:{http_port}/")
                wait_for(lambda: our_stream(first), timeout_s=45, what="the stream (first daemon)")
            popup = ctx.new_page()
            popup.goto(f"{EXT_URL}/popup.html")
            popup.wait_for_selector("#no-daemon:not(.hidden)", timeout=20_000)
            assert f"127.0.0.1:{port}" in popup.inner_text("#no-daemon")
            assert f"streamchill daemon --port {port}" in popup.inner_text("#nd-command")
            with run_daemon(tmp_path / "daemon", port=port) as second:
                # backoff is capped at 10 s; the daemon itself needs a moment to start
                wait_for(
                    lambda: our_stream(second), timeout_s=40, what="the stream (restarted daemon)"
                )
                popup.wait_for_selector("#no-daemon", state="hidden", timeout=20_000)
        finally:
            ctx.close()


@contextlib.contextmanager
def healthz_only_server() -> Iterator[int]:
    """A stand-in for a daemon whose sockets the browser holds back: ``/healthz`` answers,
    a WebSocket upgrade is read and never answered (as Firefox delays a socket to a port
    after refused ones; Chromium cannot be made to). Yields the port."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/healthz"):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            else:
                release.wait(60)  # the upgrade: no answer while the test runs

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="held-back", daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_popup_tells_a_held_back_socket_from_no_daemon_stand_in_server(tmp_path: Path) -> None:
    """/healthz answers but no socket opens within the probe's 2.5 s: the popup says the
    browser holds the connection back (and how that clears), not that no daemon runs, nor
    that it refused the extension."""
    from playwright.sync_api import sync_playwright

    with healthz_only_server() as port, sync_playwright() as pw:
        ctx = launch_with_extension(pw, tmp_path / "profile")
        try:
            configure(ctx, port, calm_minutes=60)
            popup = ctx.new_page()
            popup.goto(f"{EXT_URL}/popup.html")
            popup.wait_for_selector("#held-back:not(.hidden)", timeout=15_000)
            assert f"127.0.0.1:{port}" in popup.inner_text("#held-back")
            assert "clears by itself" in popup.inner_text("#held-back")
            assert popup.is_hidden("#no-daemon") and popup.is_hidden("#refused")
        finally:
            ctx.close()


def test_cross_origin_player_is_reported_not_streamed(tmp_path: Path) -> None:
    """A cross-origin <audio> (no CORS) cannot be tapped: the extension says so, sends nothing."""
    from playwright.sync_api import sync_playwright

    media = tmp_path / "media"
    media_page(media, calm_example())
    site = tmp_path / "site"
    site.mkdir()
    with (
        run_daemon(tmp_path / "daemon") as daemon,
        serve_directory(media) as media_port,
        serve_directory(site) as http_port,
        sync_playwright() as pw,
    ):
        (site / "index.html").write_text(
            "<!doctype html><title>Cross-origin player</title><audio id=player autoplay loop "
            f'src="http://localhost:{media_port}/{calm_example().name}"></audio>'
        )
        ctx = launch_with_extension(pw, tmp_path / "profile")
        try:
            options = configure(ctx, daemon.port)
            page = ctx.new_page()
            page.goto(f"http://127.0.0.1:{http_port}/")
            page.wait_for_function(
                "() => !document.getElementById('player').paused", timeout=15_000
            )
            silent = wait_for(
                lambda: (storage_get(options, "session", "live") or {}).get("silentTabs"),
                timeout_s=20,
                what="the silent-tap report",
            )
            (report,) = silent.values()
            assert "another site" in report["reason"], report
            assert our_stream(daemon) is None
        finally:
            ctx.close()
