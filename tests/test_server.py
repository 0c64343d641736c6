"""The server in-process, on port 0, with a stand-in analyzer: protocol and robustness rules
that do not depend on what the model says (the real daemon is tested in test_daemon.py)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streamchill.analyzer.audio import SampleFormat
from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures
from streamchill.streamer.config import Settings
from streamchill.streamer.server.app import DaemonServer
from streamchill.streamer.server.hub import EventHub
from tests.support.daemon import http_get, raw_upgrade, recv_json
from tests.support.waiting import until

TOKEN = "t" * 43
EXTENSION = "chrome-extension://cjpikdgbceefcbkpjabodpmgjgfbfjjp"
T = 10.0  # seconds any single await may take


class FakeSession:
    """Emits one mood event per second of audio (plus ``burst`` more), like a real session
    but instantly; ``delay_s`` makes each feed slow, to fill the queue."""

    delay_s = 0.0
    burst = 0

    def __init__(self, stream: str, rate: int, channels: int, fmt: SampleFormat) -> None:
        self.stream, self.rate = stream, rate
        self.frame_bytes = channels * fmt.bytes_per_sample
        self.frames = 0
        self.seq = 0

    def _event(self) -> MoodEvent:
        t = self.frames / self.rate
        self.seq += 1
        return MoodEvent(self.stream, self.seq - 1, t, max(0.0, t - 30), t, MoodState.CALM,
                         False, False, 0.9, 0.0, WindowFeatures(1.0, 80.0, 1.0, -20.0))  # fmt: skip

    def feed(self, block: bytes | np.ndarray) -> list[MoodEvent]:
        assert isinstance(block, bytes) and len(block) % self.frame_bytes == 0
        if self.delay_s:
            time.sleep(self.delay_s)  # the behaviour: analysis slower than real time
        before = self.frames // self.rate
        self.frames += len(block) // self.frame_bytes
        hops = self.frames // self.rate - before
        return [self._event() for _ in range(hops + (self.burst if hops else 0))]

    def finish(self) -> list[MoodEvent]:
        return [self._event()]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DaemonServer]:
    FakeSession.delay_s, FakeSession.burst = 0.0, 0
    settings = Settings(port=0, config_dir=tmp_path, hello_timeout_s=1.0, stream_queue_s=5.0)
    srv = DaemonServer(settings, hub=EventHub(), token=TOKEN, session_factory=FakeSession)
    await srv.start()
    yield srv
    await asyncio.wait_for(srv.close(), T)


def url(srv: DaemonServer, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


def client(srv: DaemonServer, path: str, **kwargs: Any) -> Any:
    kwargs.setdefault("additional_headers", {"Authorization": f"Bearer {TOKEN}"})
    return connect(url(srv, path), open_timeout=T, compression=None, **kwargs)


def hello(stream: str = "tab-1", rate: int = 8000, fmt: str = "s16le", **extra: Any) -> str:
    return json.dumps({"type": "hello", "v": 1, "stream": stream, "sample_rate_hz": rate,
                       "channels": 1, "sample_format": fmt, **extra})  # fmt: skip


def pcm(seconds: float, rate: int = 8000) -> bytes:
    n = int(seconds * rate)
    return (np.sin(np.arange(n) / 10) * 8000).astype("<i2").tobytes()


async def closed_code(ws: ClientConnection) -> int | None:
    await asyncio.wait_for(ws.wait_closed(), T)
    return ws.close_code


async def send_and_wait_for_events(srv: DaemonServer, audio: ClientConnection, data: bytes) -> None:
    """Send one frame and wait until the events it makes are published to the hub."""
    before = srv.stats.events_published
    await audio.send(data)
    await until(lambda: srv.stats.events_published > before, T, "the frame's events")


async def moods(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await recv_json(ws, T)
        if msg["type"] == "mood":
            out.append(msg)
    return out


@pytest.mark.parametrize(
    ("headers", "source"),
    [({"Origin": EXTENSION}, "extension"), ({"Authorization": f"Bearer {TOKEN}"}, "client")],
)
async def test_stream_start_says_what_kind_of_client_streams(
    server: DaemonServer, headers: dict[str, str], source: str
) -> None:
    async with client(server, "/v1/events") as events:
        assert (await recv_json(events))["type"] == "welcome"
        async with client(server, "/v1/audio", additional_headers=headers) as audio:
            await audio.send(hello())
            assert (await recv_json(audio))["type"] == "ready"
            start = await recv_json(events)
        assert start["type"] == "stream_start" and start["source"] == source


async def test_hello_ready_audio_then_events_with_monotonic_seq(server: DaemonServer) -> None:
    async with client(server, "/v1/events") as events:
        assert (await recv_json(events))["type"] == "welcome"
        async with client(server, "/v1/audio") as audio:
            await audio.send(hello(title="Lofi"))
            assert await recv_json(audio) == {"type": "ready", "v": 1, "stream": "tab-1"}
            data = pcm(3.0)
            for i in range(0, len(data), 1001):  # frames that end mid-sample
                await audio.send(data[i : i + 1001])
            await audio.send('{"type":"bye"}')
            assert await closed_code(audio) == 1000
        start = await recv_json(events)
        assert start == {"type": "stream_start", "v": 1, "stream": "tab-1", "title": "Lofi",
                         "url": None, "source": "client"}  # fmt: skip
        got = await moods(events, 4)
        assert [m["seq"] for m in got] == [0, 1, 2, 3]
        assert await recv_json(events) == {"type": "stream_end", "v": 1, "stream": "tab-1",
                                           "last_seq": 3}  # fmt: skip
    stats = server.stats.as_dict()
    assert stats["frames_in"] == math.ceil(len(data) / 1001) and stats["events_published"] == 4


async def test_a_new_subscriber_gets_current_states_and_since_replays(
    server: DaemonServer,
) -> None:
    async with client(server, "/v1/audio") as audio:
        await audio.send(hello("a"))
        await recv_json(audio)
        await audio.send(pcm(5.0))
        await until(lambda: server.stats.events_published == 5, T, "5 s of audio analysed")
        async with client(server, "/v1/events?streams=a") as late:
            assert (await recv_json(late))["streams"] == ["a"]
            assert [m["seq"] for m in await moods(late, 1)] == [4]
        async with client(server, "/v1/events?since=a:1") as resumed:
            await recv_json(resumed)
            assert [m["seq"] for m in await moods(resumed, 3)] == [2, 3, 4]
            await resumed.send('{"type":"subscribe","streams":["a"],"since":{"a":3}}')
            assert [m["seq"] for m in await moods(resumed, 1)] == [4]
            await resumed.send('{"type":"ping"}')
            assert (await recv_json(resumed))["type"] == "pong"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Origin": "https://evil.example"}, "Origin"),
        ({"Origin": "null"}, "Origin"),
        ({}, "missing token"),
        ({"Authorization": "Bearer wrong-token-wrong-token"}, "wrong token"),
    ],
)
async def test_refused_upgrades_get_403_before_the_handshake(
    server: DaemonServer, headers: dict[str, str], why: str
) -> None:
    for path in ("/v1/audio", "/v1/events"):
        status, body = await asyncio.to_thread(
            raw_upgrade, server.port, path, {"Host": f"127.0.0.1:{server.port}", **headers}
        )
        assert status == 403 and why in body


@pytest.mark.parametrize("path", ["/v1/audio", "/v1/events"])
async def test_an_unknown_extension_without_the_token_is_closed_with_a_code_that_says_why(
    server: DaemonServer, path: str
) -> None:
    """Not 403: a browser script cannot read a refused upgrade's status (the extension could
    not tell a refusal from a restart), and Firefox holds back its next sockets to a port
    whose upgrades failed. The socket is closed before anything is sent on it."""
    firefox = "moz-extension://2b8a6f1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    for query, code, says in [("", 4401, "missing token"), ("?token=nope", 4403, "wrong token")]:
        async with client(server, path + query, origin=firefox, additional_headers={}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == code and says in closed.value.rcvd.reason
    assert server.stats.http_refused == 2
    # The same extension with the token is taken; plain HTTP without it is still a 403.
    async with client(server, f"/v1/events?token={TOKEN}", origin=firefox,
                      additional_headers={}) as ws:  # fmt: skip
        assert (await recv_json(ws))["type"] == "welcome"
    status, _ = await asyncio.to_thread(http_get, server.port, "/v1/stats", {"Origin": firefox})
    assert status == 403
    # A plain GET of the socket's path asks for no handshake: its refusal is a 403 too.
    status, _ = await asyncio.to_thread(http_get, server.port, path, {"Origin": firefox})
    assert status == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.2", ""])
async def test_a_foreign_host_gets_403(server: DaemonServer, host: str) -> None:
    headers = {"Host": host, "Authorization": f"Bearer {TOKEN}"}
    status, body = await asyncio.to_thread(raw_upgrade, server.port, "/v1/events", headers)
    assert status == 403 and "Host" in body


async def test_the_extension_origin_needs_no_token_and_the_query_token_works(
    server: DaemonServer,
) -> None:
    async with client(server, "/v1/events", origin=EXTENSION, additional_headers={}) as ws:
        assert (await recv_json(ws))["type"] == "welcome"
    async with client(server, f"/v1/events?token={TOKEN}", additional_headers={}) as ws:
        assert (await recv_json(ws))["type"] == "welcome"
    with pytest.raises(InvalidStatus) as info:
        async with client(server, "/v1/events", origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403


async def test_plain_http_endpoints(server: DaemonServer) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, body = await asyncio.to_thread(http_get, server.port, "/healthz", {})
    assert status == 200 and body["status"] == "ok"
    assert (await asyncio.to_thread(http_get, server.port, "/v1/stats", {}))[0] == 403
    status, body = await asyncio.to_thread(http_get, server.port, "/v1/stats", auth)
    assert status == 200 and {"streams", "frames_dropped", "subscribers_dropped"} <= set(body)
    status, body = await asyncio.to_thread(http_get, server.port, "/v1/streams", auth)
    assert (status, body) == (200, {"streams": []})
    assert (await asyncio.to_thread(http_get, server.port, "/nope/x", auth))[0] == 404
    assert (await asyncio.to_thread(http_get, server.port, "/v1/analyze", auth))[0] == 400


@pytest.mark.parametrize(
    ("first", "code", "close"),
    [
        (b"\x00\x01", "bad_hello", 1008),
        ("{nope", "bad_json", 1008),
        ('{"type":"bye"}', "unknown_type", 1008),
        (hello(rate=1000), "unsupported_format", 1003),
        (hello(fmt="u8"), "unsupported_format", 1003),
        (hello(stream="has space"), "bad_hello", 1008),
    ],
)
async def test_a_bad_start_gets_an_error_and_a_close(
    server: DaemonServer, first: str | bytes, code: str, close: int
) -> None:
    async with client(server, "/v1/audio") as audio:
        await audio.send(first)
        assert (await recv_json(audio))["code"] == code
        assert await closed_code(audio) == close


async def test_no_hello_in_time_is_a_timeout(server: DaemonServer) -> None:
    async with client(server, "/v1/audio") as audio:
        assert (await recv_json(audio))["code"] == "timeout"
        assert await closed_code(audio) == 1008


async def test_bad_frames_get_errors_and_the_stream_goes_on(server: DaemonServer) -> None:
    async with client(server, "/v1/events") as events:
        await recv_json(events)
        async with client(server, "/v1/audio") as audio:
            await audio.send(hello(fmt="f32le"))
            await recv_json(audio)
            await audio.send(np.array([0.1, np.nan, 0.2], "<f4").tobytes())
            assert (await recv_json(audio))["code"] == "bad_frame"
            await audio.send(b"")
            assert (await recv_json(audio))["code"] == "bad_frame"
            await audio.send('{"type":"mood"}')
            assert (await recv_json(audio))["code"] == "unknown_type"
            await audio.send(np.zeros(8000, "<f4").tobytes())
            assert [m["seq"] for m in await moods(events, 1)] == [0]
    assert server.stats.frames_rejected == 2


async def test_an_oversized_frame_closes_with_1009(server: DaemonServer) -> None:
    async with client(server, "/v1/audio") as audio:
        await audio.send(hello())
        await recv_json(audio)
        await audio.send(bytes(256 * 1024 + 2))
        assert await closed_code(audio) == 1009


async def test_a_stream_name_in_use_is_busy(server: DaemonServer) -> None:
    async with client(server, "/v1/audio") as first, client(server, "/v1/audio") as second:
        await first.send(hello("same"))
        await recv_json(first)
        await second.send(hello("same"))
        assert (await recv_json(second))["code"] == "busy"


async def test_slow_analysis_drops_frames_and_warns_without_blocking(
    server: DaemonServer,
) -> None:
    FakeSession.delay_s = 0.5
    async with client(server, "/v1/audio") as audio:
        await audio.send(hello())
        await recv_json(audio)
        started = time.monotonic()
        for _ in range(150):  # 15 s of audio in 0.1 s frames against a 5 s queue
            await audio.send(pcm(0.1))
        warning = await recv_json(audio)
        # analysing 15 s at 0.5 s per second of audio would take 7.5 s if the loop waited
        assert time.monotonic() - started < 5.0
        assert warning["type"] == "warning" and warning["code"] == "dropped_audio"
        assert warning["frames"] >= 1
    assert server.stats.frames_dropped >= warning["frames"]


async def test_a_subscriber_that_never_reads_is_dropped_while_another_keeps_up(
    server: DaemonServer,
) -> None:
    FakeSession.burst = 100  # many events per second of audio, to fill socket buffers fast
    async with (
        client(server, "/v1/events", max_queue=1) as stuck,
        client(server, "/v1/events") as reader,
        client(server, "/v1/audio") as audio,
    ):
        await recv_json(reader)
        await audio.send(hello())
        await recv_json(audio)
        seen: list[int] = []

        async def read() -> None:
            while True:
                msg = json.loads(await reader.recv())
                if msg["type"] == "mood":
                    seen.append(msg["seq"])

        reading = asyncio.create_task(read())
        for _ in range(500):
            if server.stats.subscribers_dropped:
                break
            await send_and_wait_for_events(server, audio, pcm(1.0))
        assert server.stats.subscribers_dropped == 1
        await send_and_wait_for_events(server, audio, pcm(1.0))
        while server.stats.events_published <= 1000:  # the reader keeps up with many more
            await send_and_wait_for_events(server, audio, pcm(1.0))
        await until(lambda: len(seen) == server.stats.events_published, T, "every event read")
        reading.cancel()
        assert not reader.close_code
        assert seen == list(range(len(seen))) and len(seen) > 1000  # all, in order
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(stuck.recv(), T)
        assert stuck.close_code == 1008
