"""`streamchill send` and `streamchill listen`: the demo's two clients against the real daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import example_path
from tests.support.daemon import RunningDaemon, daemon, start_daemon  # noqa: F401  (fixture)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamchill.streamer", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture
def roomy_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon whose streams may queue 120 s of audio: on a busy machine (the first stream
    also waits for the model to load) analysis falls behind a sped-up ``send`` but loses
    nothing, so ``send`` has no drop to report."""
    running = start_daemon(tmp_path, env={"STREAMCHILL_STREAM_QUEUE_S": "120"})
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log()


def test_send_streams_a_file_that_a_listener_sees_judged(roomy_daemon: RunningDaemon) -> None:
    url = f"ws://127.0.0.1:{roomy_daemon.port}"
    listener = subprocess.Popen(
        [sys.executable, "-m", "streamchill.streamer", "listen", "--url", url, "--json",
         "--config-dir", str(roomy_daemon.config_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    messages: list[dict] = []
    done = threading.Event()

    def read() -> None:
        assert listener.stdout is not None
        for line in listener.stdout:
            messages.append(json.loads(line))
            if messages[-1]["type"] == "stream_end":
                done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        config_dir = str(roomy_daemon.config_dir)
        sent = cli("send", "--speed", "4", "--url", url, "--config-dir", config_dir,
                   str(example_path("calm")))  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert done.wait(60), f"no stream_end; got {messages[-3:]}"
    finally:
        listener.terminate()
        listener.wait(timeout=30)
    moods = [
        m for m in messages if m["type"] == "mood" and m["stream"] == "file-calm-mountain-idyll"
    ]
    assert len(moods) >= 15, messages[:3]
    assert [m["seq"] for m in moods] == list(range(len(moods)))
    assert moods[-1]["state"] == "calm"


def test_send_says_clearly_when_no_daemon_is_there(tmp_path: Path) -> None:
    sent = cli("send", "--url", "ws://127.0.0.1:9", "--token", "x", str(example_path("calm")))
    assert sent.returncode == 1
    assert "cannot stream to the daemon" in sent.stderr and "Traceback" not in sent.stderr


def test_send_refuses_a_wrong_token(daemon: RunningDaemon) -> None:  # noqa: F811
    url = f"ws://127.0.0.1:{daemon.port}"
    sent = cli("send", "--url", url, "--token", "wrong", str(example_path("calm")))
    assert sent.returncode == 1 and "refused (403)" in sent.stderr


def test_send_reports_audio_the_daemon_dropped_and_fails(tmp_path: Path) -> None:
    """A daemon that stalls (SIGSTOP) while a file streams in, with a short queue, must drop
    audio on resuming; `send` relays the daemon's warning and exits non-zero."""
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "config.toml").write_text("stream_queue_s = 0.5\n")
    running = start_daemon(tmp_path)
    try:
        url = f"ws://127.0.0.1:{running.port}"
        sender = subprocess.Popen(
            [sys.executable, "-m", "streamchill.streamer", "send", "--speed", "20", "--url", url,
             "--config-dir", str(running.config_dir), str(example_path("calm"))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def audio_flows() -> bool:
            assert sender.poll() is None, sender.communicate()[1]
            return running.stats()["frames_in"] >= 3

        wait_until(audio_flows, 60, "the stream to be up and audio to flow")
        os.kill(running.proc.pid, signal.SIGSTOP)  # the file keeps coming; the daemon stalls
        try:
            time.sleep(1.5)  # the stall itself is the condition under test
        finally:
            os.kill(running.proc.pid, signal.SIGCONT)
        _, err = sender.communicate(timeout=120)
        assert sender.returncode == 1, err
        assert "the daemon dropped" in err and "incomplete" in err
    finally:
        assert running.stop() == 0, running.log()


def test_send_goes_on_after_an_unreadable_file_and_streams_webm_opus(
    daemon: RunningDaemon,  # noqa: F811
    tmp_path: Path,
    decoded_examples: dict,
) -> None:
    """One line for the bad file, exit 1 (never a signal), and the next file is still sent."""
    from tests.support.media import Format, write_media

    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 1000)
    samples, rate = decoded_examples["calm"]
    good = write_media(
        tmp_path / "calm.webm",
        samples[: 3 * rate],
        rate,
        Format(".webm", "webm", "libopus", 48_000),
    )
    url = f"ws://127.0.0.1:{daemon.port}"
    sent = cli("send", "--speed", "2", "--url", url, "--config-dir", str(daemon.config_dir),
               str(bad), str(good))  # fmt: skip
    assert sent.returncode == 1, sent.stderr
    (line,) = sent.stderr.strip().splitlines()
    assert str(bad) in line and "not a readable audio or video file" in line


def test_a_listener_line_says_no_pulse_rather_than_zero_bpm() -> None:
    from streamchill.streamer.commands.listen import format_line

    features = {"bpm": 0.0, "danceability": 0.7, "loudness_db": -24.0}
    msg = {"type": "mood", "stream": "tab-1", "seq": 3, "state": "calm", "changed": False,
           "calm_probability": 0.88, "speech_probability": 0.0, "media_time_s": 4.0,
           "features": features}  # fmt: skip
    assert "bpm     -  dance 0.70" in format_line(msg)
    assert "bpm  72.4" in format_line({**msg, "features": {**features, "bpm": 72.4}})
