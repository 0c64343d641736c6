"""System capture against a real PulseAudio server: what the default sink plays becomes the
``system`` stream, and a crashed sound server is survived (the daemon reopens capture)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support.daemon import RunningDaemon, recv_json, start_daemon
from tests.support.pulse import SINK, PulseServer, pulse

pytestmark = pytest.mark.integration
__all__ = ["pulse"]

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "streamchill.streamer"]
CALM = sorted((ROOT / "models" / "examples").glob("calm-*.ogg"))[0]
T = 30.0
AUDIBLE_DB = -45.0
"""A window louder than this holds the clip, not the null sink's digital silence."""


@pytest.fixture
def capturing(tmp_path: Path, pulse: PulseServer) -> Iterator[RunningDaemon]:
    """A daemon capturing the private server's default-sink monitor."""
    d = start_daemon(tmp_path / "d", "--capture", "system", env=pulse.env)
    try:
        yield d
    finally:
        assert d.stop() == 0, d.log()


async def audible_event(events: ClientConnection, deadline_s: float) -> dict[str, Any]:
    """The first ``system`` mood event whose window holds sound."""
    deadline = time.monotonic() + deadline_s
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "no audible event from the system stream"
        msg = await recv_json(events, remaining)
        if msg["type"] == "mood" and msg["features"]["loudness_db"] > AUDIBLE_DB:
            return msg


def events_url(d: RunningDaemon) -> Any:
    return connect(d.ws_url("/v1/events?streams=system"), additional_headers=d.auth,
                   open_timeout=T)  # fmt: skip


async def test_what_the_default_sink_plays_is_analysed_as_the_system_stream(
    capturing: RunningDaemon, pulse: PulseServer
) -> None:
    async with events_url(capturing) as events:
        assert (await recv_json(events, T))["type"] == "welcome"
        player = pulse.play(CALM)
        try:
            event = await audible_event(events, 40)
        finally:
            player.kill()
            player.wait(10)
    assert event["stream"] == "system" and event["media_time_s"] > 0
    status, body = capturing.get("/v1/streams")
    assert status == 200
    (info,) = body["streams"]
    assert info["source"] == "capture" and info["stream"] == "system"
    assert capturing.stats()["frames_in"] > 0


async def test_capture_recovers_when_the_sound_server_dies_and_returns(
    capturing: RunningDaemon, pulse: PulseServer
) -> None:
    async with events_url(capturing) as events:
        await recv_json(events, T)
        while (await recv_json(events, T))["type"] != "mood":
            pass  # capture is up and analysing (silence, for now)
        pulse.kill()
        # the stream notices within a few seconds and ends; the daemon keeps serving
        while (await recv_json(events, T))["type"] != "stream_end":
            pass
        assert capturing.alive() and capturing.get("/healthz", {})[0] == 200
        pulse.start()
        while (await recv_json(events, 60))["type"] != "stream_start":
            pass
        player = pulse.play(CALM)
        try:
            event = await audible_event(events, 40)
        finally:
            player.kill()
            player.wait(10)
    assert event["stream"] == "system"
    assert capturing.stats()["capture_restarts"] >= 1
    assert "reopening" in capturing.log()


def test_devices_marks_the_system_output_monitor(pulse: PulseServer) -> None:
    out = subprocess.run([*CLI, "devices"], cwd=ROOT,
                         env={**os.environ, **pulse.env}, capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    marked = [line for line in out.splitlines() if re.match(r"\*\s+\d+\s", line)]
    assert len(marked) == 1 and "pulse" in marked[0]
    assert f"{SINK}.monitor" in out
    rows = subprocess.run([*CLI, "devices", "--json"], cwd=ROOT,
                          env={**os.environ, **pulse.env}, capture_output=True, text=True,
                          timeout=60, check=True).stdout.splitlines()  # fmt: skip
    assert sum(json.loads(r)["system_capture"] for r in rows) == 1


def test_no_sound_server_is_a_clear_capture_error_and_the_daemon_serves_anyway(
    tmp_path: Path,
) -> None:
    env = {"PULSE_SERVER": f"unix:{tmp_path}/nothing-here", "PULSE_CLIENTCONFIG": "/dev/null"}
    d = start_daemon(tmp_path, "--capture", "system", env=env)
    try:
        deadline = time.monotonic() + T
        while "capture 'system'" not in d.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "no PulseAudio/PipeWire server answered" in d.log()
        assert d.get("/healthz", {})[0] == 200
    finally:
        assert d.stop() == 0, d.log()
