"""The real daemon as a subprocess on a free port, with the real analyzer: shipped clips go in
through ``/v1/audio`` like the extension sends them, mood events come out on ``/v1/events``;
every refusal and every kind of bad input leaves it serving."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.daemon import RunningDaemon, raw_upgrade, recv_json, start_daemon
from tests.support.waiting import until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
EVENTS_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "analyzer" / "schema" / "events.schema.json").read_text())
)
PROTOCOL_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "streamer" / "schema" / "protocol.schema.json").read_text())
)
T = 30.0  # seconds any one await may take (the first stream loads the model)
FRAME_S = 0.1
SPEEDUP = 20.0
"""Clips are sent faster than real time; the daemon under test queues up to 120 s of audio
per stream, so a busy CI machine slows analysis down but loses nothing."""
QUIET_ENV = {"STREAMCHILL_STREAM_QUEUE_S": "120"}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A fresh daemon; it must exit 0 on SIGTERM afterwards."""
    running = start_daemon(tmp_path, env=QUIET_ENV)
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def calm_clip() -> tuple[np.ndarray, int]:
    """The shipped calm example, decoded: float32 [frames, channels] and its rate."""
    from streamchill.streamer.sources.decode import decode_file

    path = sorted((ROOT / "models" / "examples").glob("calm-*.ogg"))[0]
    audio = decode_file(path)
    return audio.samples, audio.sample_rate_hz


def encode(samples: np.ndarray, fmt: str) -> bytes:
    if fmt == "s16le":
        return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return samples.astype("<f4").tobytes()


def connect_to(d: RunningDaemon, path: str, **kwargs: Any) -> Any:
    kwargs.setdefault("additional_headers", d.auth)
    return connect(d.ws_url(path), open_timeout=T, compression=None, **kwargs)


async def send_clip(
    d: RunningDaemon, stream: str, clip: tuple[np.ndarray, int], fmt: str = "s16le"
) -> None:
    """Stream a clip exactly as the extension does: hello, PCM frames, bye."""
    samples, rate = clip
    async with connect_to(d, "/v1/audio") as audio:
        await audio.send(json.dumps({"type": "hello", "v": 1, "stream": stream,
                                     "sample_rate_hz": rate, "channels": samples.shape[1],
                                     "sample_format": fmt, "title": "Calm clip"}))  # fmt: skip
        ready = await recv_json(audio, T)
        assert ready == {"type": "ready", "v": 1, "stream": stream}, ready
        step = int(FRAME_S * rate)
        for i in range(0, len(samples), step):
            await audio.send(encode(samples[i : i + step], fmt))
            await asyncio.sleep(FRAME_S / SPEEDUP)  # pacing, as a tab does (see SPEEDUP)
        await audio.send('{"type":"bye"}')
        await asyncio.wait_for(audio.wait_closed(), T)
        assert audio.close_code == 1000


async def until_end(events: ClientConnection, stream: str) -> list[dict[str, Any]]:
    """Messages of ``stream`` up to and including its ``stream_end``, each schema-checked."""
    out = []
    while True:
        msg = await recv_json(events, T)
        schema = EVENTS_SCHEMA if msg["type"] == "mood" else PROTOCOL_SCHEMA
        errors = [e.message for e in schema.iter_errors(msg)]
        assert not errors, (msg, errors)
        if msg.get("stream") == stream:
            out.append(msg)
            if msg["type"] == "stream_end":
                return out


@pytest.mark.parametrize("fmt", ["s16le", "f32le"])
async def test_a_streamed_clip_produces_mood_events_with_monotonic_seq(
    daemon: RunningDaemon, calm_clip: tuple[np.ndarray, int], fmt: str
) -> None:
    async with connect_to(daemon, "/v1/events") as events:
        welcome = await recv_json(events, T)
        assert welcome["type"] == "welcome" and not PROTOCOL_SCHEMA.is_valid({**welcome, "v": 2})
        sender = asyncio.create_task(send_clip(daemon, "tab-1", calm_clip, fmt))
        got = await asyncio.wait_for(until_end(events, "tab-1"), 120)
        await asyncio.wait_for(sender, T)
    stats = daemon.stats()
    assert stats["frames_dropped"] == 0 and stats["frames_rejected"] == 0, stats
    assert got[0]["type"] == "stream_start" and got[0]["title"] == "Calm clip"
    moods = [m for m in got if m["type"] == "mood"]
    duration_s = len(calm_clip[0]) / calm_clip[1]
    assert len(moods) >= int(duration_s) - 1  # about one per second of audio
    assert [m["seq"] for m in moods] == list(range(len(moods)))
    times = [m["media_time_s"] for m in moods]
    assert times == sorted(times) and times[-1] == pytest.approx(duration_s, abs=1.5)
    assert got[-1] == {"type": "stream_end", "v": 1, "stream": "tab-1",
                       "last_seq": moods[-1]["seq"]}  # fmt: skip
    assert stats["events_published"] == len(moods)
    # The cascade's counts reach /v1/stats: every patch was judged by one backbone or both,
    # about one per 3 s of audio, and an audit is one of musicnn's patches.
    judged = stats["patches_student"] + stats["patches_teacher"]
    assert judged >= int(duration_s / 6), stats
    assert stats["teacher_audits"] <= stats["patches_teacher"], stats


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Origin": "https://evil.example"}, "Origin"),
        ({"Origin": "null"}, "Origin"),
        ({}, "missing token"),
        ({"Authorization": "Bearer not-the-token-at-all"}, "wrong token"),
        ({"Host": "evil.example:8765"}, "Host"),
    ],
)
def test_refusals_come_before_the_upgrade_and_the_daemon_goes_on(
    daemon: RunningDaemon, headers: dict[str, str], why: str
) -> None:
    for path in ("/v1/audio", "/v1/events", "/v1/streams"):
        status, body = raw_upgrade(daemon.port, path, {"Host": "localhost", **headers})
        assert (status, why in body) == (403, True), body
    assert daemon.get("/healthz", {})[0] == 200
    assert daemon.stats()["http_refused"] == 3


def test_the_log_names_refusals_but_not_every_health_check(daemon: RunningDaemon) -> None:
    """The extension asks /healthz before each (re)connect: a line per request would bury
    what matters in the user's journal."""
    for _ in range(3):
        assert daemon.get("/healthz", {})[0] == 200
    raw_upgrade(daemon.port, "/v1/events", {"Host": "localhost", "Origin": "https://evil.example"})
    log = daemon.log()
    assert "refused /v1/events" in log and "evil.example" in log
    assert "HTTP response sent" not in log and "connection closed" not in log


async def test_the_extension_origin_is_let_in_without_a_token(daemon: RunningDaemon) -> None:
    origin = "chrome-extension://cjpikdgbceefcbkpjabodpmgjgfbfjjp"
    async with connect_to(daemon, "/v1/events", origin=origin, additional_headers={}) as ws:
        assert (await recv_json(ws, T))["type"] == "welcome"
    with pytest.raises(InvalidStatus) as info:
        async with connect_to(daemon, "/v1/events", origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403


async def test_resume_with_since_gets_the_missed_events(
    daemon: RunningDaemon, calm_clip: tuple[np.ndarray, int]
) -> None:
    async with connect_to(daemon, "/v1/events?streams=tab-2") as events:
        await recv_json(events, T)
        sender = asyncio.create_task(send_clip(daemon, "tab-2", calm_clip))
        first = [await recv_json(events, T) for _ in range(4)]  # start + 3 moods
    last_seen = first[-1]["seq"]
    await asyncio.wait_for(sender, 120)  # the rest happens while we are away
    async with connect_to(daemon, f"/v1/events?streams=tab-2&since=tab-2:{last_seen}") as again:
        await recv_json(again, T)
        rest = await asyncio.wait_for(until_end(again, "tab-2"), T)
    seqs = [m["seq"] for m in first + rest if m["type"] == "mood"]
    assert seqs == list(range(len(seqs))) and rest[-1]["type"] == "stream_end"


def stuck_subscriber(d: RunningDaemon) -> socket.socket:
    """A subscriber that completes the handshake and then never reads (tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", d.port))
    sock.sendall(
        b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + d.token.encode() + b"\r\n\r\n"
    )
    assert sock.recv(12) == b"HTTP/1.1 101"
    return sock


async def test_a_subscriber_that_never_reads_is_dropped_and_another_keeps_receiving(
    tmp_path: Path, calm_clip: tuple[np.ndarray, int]
) -> None:
    d = start_daemon(tmp_path, env={**QUIET_ENV, "STREAMCHILL_SUBSCRIBER_QUEUE": "32"})
    try:
        stuck = stuck_subscriber(d)
        async with connect_to(d, "/v1/events") as reader:
            await recv_json(reader, T)
            received: list[dict[str, Any]] = []

            async def read() -> None:
                while True:
                    received.append(json.loads(await reader.recv()))

            reading = asyncio.create_task(read())
            for round_ in range(10):  # 3 parallel clips a round, until the stuck one is dropped
                if d.stats()["subscribers_dropped"]:
                    break
                clips = (send_clip(d, f"s{round_}-{i}", calm_clip) for i in range(3))
                await asyncio.wait_for(asyncio.gather(*clips), 120)
            await until(
                lambda: (
                    sum(m["type"] == "stream_end" for m in received) == d.stats()["streams_total"]
                ),
                T,
                "the reader to get every stream's end",
            )
            reading.cancel()
            stats = d.stats()
            assert stats["subscribers_dropped"] == 1 and stats["subscribers"] == 1
            assert not reader.close_code
        stuck.close()
    finally:
        assert d.stop() == 0, d.log()
    ends = [m for m in received if m["type"] == "stream_end"]
    assert len(ends) == 3 * (round_ + (0 if stats["subscribers_dropped"] else 1))
    for end in ends:  # the reader got every event of every stream, in order
        seqs = [m["seq"] for m in received if m["type"] == "mood" and m["stream"] == end["stream"]]
        assert seqs == list(range(end["last_seq"] + 1))
    assert "dropped a subscriber" in d.log()


async def test_bad_clients_get_errors_while_a_good_stream_goes_on(
    daemon: RunningDaemon, calm_clip: tuple[np.ndarray, int]
) -> None:
    async with connect_to(daemon, "/v1/events?streams=good") as events:
        await recv_json(events, T)
        good = asyncio.create_task(send_clip(daemon, "good", calm_clip))
        bad_starts = [b"\x00garbage", "{not json", '{"type":"hello","stream":"x"}',
                      json.dumps({"type": "hello", "stream": "x", "sample_rate_hz": 48000,
                                  "channels": 2, "sample_format": "u8"})]  # fmt: skip
        for first in bad_starts:
            async with connect_to(daemon, "/v1/audio") as bad:
                await bad.send(first)
                error = await recv_json(bad, T)
                assert error["type"] == "error" and PROTOCOL_SCHEMA.is_valid(error)
                await asyncio.wait_for(bad.wait_closed(), T)
                assert bad.close_code in (1003, 1008)
        async with connect_to(daemon, "/v1/audio") as noisy:
            hello = {"type": "hello", "stream": "noisy", "channels": 1,
                     "sample_rate_hz": 16000, "sample_format": "f32le"}  # fmt: skip
            await noisy.send(json.dumps(hello))
            await recv_json(noisy, T)
            await noisy.send(np.full(1600, np.inf, "<f4").tobytes())
            assert (await recv_json(noisy, T))["code"] == "bad_frame"
            await noisy.send("\x00\x01 not a message")
            assert (await recv_json(noisy, T))["code"] == "bad_json"
            await noisy.send(bytes(300 * 1024))
            await asyncio.wait_for(noisy.wait_closed(), T)
            assert noisy.close_code == 1009
        got = await asyncio.wait_for(until_end(events, "good"), 120)
        await asyncio.wait_for(good, T)
    assert sum(m["type"] == "mood" for m in got) >= 10
    assert daemon.alive()


async def test_streams_endpoint_lists_live_streams(
    daemon: RunningDaemon, calm_clip: tuple[np.ndarray, int]
) -> None:
    async with connect_to(daemon, "/v1/events?streams=tab-9") as events:
        await recv_json(events, T)
        sender = asyncio.create_task(send_clip(daemon, "tab-9", calm_clip))
        while (await recv_json(events, T))["type"] != "mood":
            pass
        status, body = await asyncio.to_thread(daemon.get, "/v1/streams")
        assert status == 200
        (info,) = body["streams"]
        assert info["stream"] == "tab-9" and info["source"] == "client"
        assert info["state"] in {"warming_up", "calm", "neutral", "aggressive", "silence",
                                 "speech"}  # fmt: skip
        await asyncio.wait_for(sender, 120)


async def test_listen_prints_every_event_as_json_lines_and_survives_a_daemon_restart(
    daemon: RunningDaemon, calm_clip: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "streamchill.streamer", "listen", "--streams", "tab-L",
               "--url", f"ws://127.0.0.1:{daemon.port}",
               "--config-dir", str(daemon.config_dir)]  # fmt: skip
    listen = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        welcome = json.loads(await asyncio.wait_for(listen.stdout.readline(), T))  # type: ignore[union-attr]
        assert welcome["type"] == "welcome"
        await send_clip(daemon, "tab-L", calm_clip)
        lines = []
        while not lines or lines[-1]["type"] != "stream_end":
            lines.append(json.loads(await asyncio.wait_for(listen.stdout.readline(), T)))  # type: ignore[union-attr]
        seqs = [m["seq"] for m in lines if m["type"] == "mood"]
        assert seqs == list(range(len(seqs))) and len(seqs) >= 10
        daemon.stop()
        note = await asyncio.wait_for(listen.stderr.readline(), T)  # type: ignore[union-attr]
        assert b"reconnecting" in note and listen.returncode is None
    finally:
        listen.terminate()
        await asyncio.wait_for(listen.wait(), T)


async def test_one_shot_analysis_answers_in_the_seed_shape_and_is_cached(
    daemon: RunningDaemon,
) -> None:
    from urllib.parse import quote

    clip = sorted((ROOT / "models" / "examples").glob("calm-*.ogg"))[0]
    path = f"/v1/analyze?source={quote(str(clip))}"
    status, body = await asyncio.to_thread(daemon.get, path)
    for _ in range(60):  # 202 while it runs: ask again
        if status != 202:
            break
        await asyncio.sleep(body["retry_after_s"])  # the protocol: wait as the 202 asks
        status, body = await asyncio.to_thread(daemon.get, path)
    assert status == 200, body
    assert {"timestamps", "aggressive", "calm_probability", "state"} <= set(body)
    assert {"start", "end", "avg_db_deviation", "bpm", "danceability"} <= set(body["timestamps"][0])
    assert await asyncio.to_thread(daemon.get, path) == (200, body)  # from the cache
    status, body = await asyncio.to_thread(daemon.get, "/v1/analyze?source=/no/such/file.ogg")
    assert status == 422 and "no such file" in body["error"]
