"""Injected faults against the real daemon subprocess, and churn.

Each fault test keeps a *bystander*: a well-behaved tab streaming the calm example (twice
real time) with its own subscriber. The rule under test is always the same: the fault
is contained (the daemon notices, cleans up, stays up) and the bystander keeps getting
events while it happens. Faults covered elsewhere are not repeated here: a subscriber
that never reads (test_daemon.py), the broker killed and restarted (test_mqtt_outages.py), the
sound server killed (test_capture.py). docs/reliability.md has the whole map.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.churn import (
    BINARY,
    cycle_retrying_busy,
    frame,
    half_frame_then_reset,
    hello,
    open_fds,
    open_ws,
    recv_text,
    reset,
    rss_kb,
)
from tests.support.daemon import RunningDaemon, daemon, recv_json, start_daemon
from tests.support.pulse import PulseServer, pulse
from tests.support.waiting import WaitTimeout, until, wait_until

pytestmark = pytest.mark.integration
__all__ = ["daemon", "pulse"]

T = 30.0
"""Seconds any single wait may take (the machine may be busy; the daemon is not)."""
FRAME_S = 0.1
PACE = 2.0
"""The bystander sends audio this many times faster than real time (the queue holds 10 s)."""
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 10.0
"""The extension's reconnect delays (extension/lib/daemon.js): doubling, jitter 50-100 %."""
UNHANDLED = ("Traceback", "Task exception was never retrieved", "exception was never")


def s16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


class Bystander:
    """A tab that streams in a loop, reconnecting with backoff the way the extension does,
    and a subscriber to its stream (also reconnecting). ``moods`` grows as events arrive."""

    def __init__(self, daemon: Callable[[], RunningDaemon], name: str, audio: np.ndarray):
        self.daemon = daemon
        self.name = name
        self.pcm = s16(audio)
        self.moods: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []
        self.connects = 0
        self.failures = 0
        """Times the tab lost (or could not reach) the daemon and backed off."""
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        """Set before the tasks are cancelled. Python 3.11's ``wait_for`` can swallow a
        cancel that lands as its inner await completes; the loops then end on this flag."""

    async def __aenter__(self) -> Bystander:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._stream())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), T)

    async def _stream(self) -> None:
        step = int(16_000 * FRAME_S) * 2
        pos, backoff = 0, BACKOFF_MIN_S
        while not self._stopping:
            try:
                d = self.daemon()
                async with connect(d.ws_url("/v1/audio"), additional_headers=d.auth,
                                   open_timeout=5, compression=None) as ws:  # fmt: skip
                    hello_ = {
                        "type": "hello",
                        "v": 1,
                        "stream": self.name,
                        "sample_rate_hz": 16_000,
                        "channels": 1,
                        "sample_format": "s16le",
                    }
                    await asyncio.wait_for(ws.send(json.dumps(hello_)), T)
                    if (await recv_json(ws, T))["type"] != "ready":
                        raise ConnectionError("not ready")
                    self.connects += 1
                    backoff = BACKOFF_MIN_S
                    while not self._stopping:
                        if pos + step > len(self.pcm):
                            pos = 0
                        await asyncio.wait_for(ws.send(self.pcm[pos : pos + step]), T)
                        pos += step
                        await asyncio.sleep(FRAME_S / PACE)  # paced like a tab (see PACE)
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, ConnectionError):
                self.failures += 1
                # The backoff is the behaviour: the extension's, which a restarted daemon meets.
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(2 * backoff, BACKOFF_MAX_S)

    async def _listen(self) -> None:
        while not self._stopping:
            try:
                d = self.daemon()
                async with connect(d.ws_url(f"/v1/events?streams={self.name}"),
                                   additional_headers=d.auth, open_timeout=5) as ws:  # fmt: skip
                    async for message in ws:
                        data = json.loads(message)
                        if data["type"] == "mood":
                            self.moods.append(data)
                        elif data["type"] in ("stream_start", "stream_end"):
                            self.lifecycle.append(data)
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                await asyncio.sleep(0.25)  # a subscriber's retry delay, as a client's

    async def progresses(self, events: int = 2, within_s: float = T) -> None:
        """At least ``events`` more mood events arrive within ``within_s``."""
        target = len(self.moods) + events
        what = f"{self.name}'s events to go on (stopped at {self.moods[-1:]})"
        await until(lambda: len(self.moods) >= target, within_s, what)


@contextlib.asynccontextmanager
async def bystander(d: RunningDaemon, audio: np.ndarray) -> AsyncIterator[Bystander]:
    async with Bystander(lambda: d, "bystander", audio) as b:
        await b.progresses(1, within_s=60)  # the first event also waits for the model to load
        yield b


async def next_message(ws: ClientConnection, want: Callable[[dict[str, Any]], bool],
                       within_s: float = T) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + within_s
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "the expected message did not come"
        message = await recv_json(ws, remaining)
        if want(message):
            return message


def assert_clean_log(d: RunningDaemon) -> None:
    bad = [line for line in d.log().splitlines() if any(u in line for u in UNHANDLED)]
    assert not bad, "\n".join(bad)


# -- faults ------------------------------------------------------------------------------


async def test_a_socket_reset_mid_frame_ends_only_that_stream(
    daemon: RunningDaemon, examples_16k: dict[str, np.ndarray]
) -> None:
    async with bystander(daemon, examples_16k["calm"]) as good, connect(
        daemon.ws_url("/v1/events?streams=victim"), additional_headers=daemon.auth
    ) as events:  # fmt: skip
        await recv_json(events, T)
        sock = await asyncio.to_thread(open_ws, daemon.port, "/v1/audio", daemon.token)
        sock.sendall(hello("victim"))
        assert (await asyncio.to_thread(recv_text, sock))["type"] == "ready"
        whole = frame(BINARY, s16(examples_16k["calm"][:16_000]))
        sock.sendall(whole[: len(whole) // 2])
        reset(sock)
        end = await next_message(events, lambda m: m["type"] == "stream_end")
        assert end["stream"] == "victim"
        await good.progresses(3)
        # the name is free again at once: a reloaded tab may take it back
        again = await asyncio.to_thread(open_ws, daemon.port, "/v1/audio", daemon.token)
        again.sendall(hello("victim"))
        assert (await asyncio.to_thread(recv_text, again))["type"] == "ready"
        reset(again)
    assert daemon.alive()
    assert_clean_log(daemon)


async def test_a_client_that_never_speaks_is_timed_out_and_others_go_on(
    tmp_path: Path, examples_16k: dict[str, np.ndarray]
) -> None:
    """Silent after TCP connect: closed by the handshake timeout (10 s). Silent after the
    upgrade: a ``timeout`` error and a 1008 close after ``hello_timeout_s``."""
    d = start_daemon(tmp_path, env={"STREAMCHILL_HELLO_TIMEOUT_S": "1"})
    try:
        async with bystander(d, examples_16k["calm"]) as good:
            mute_tcp = socket.create_connection(("127.0.0.1", d.port), timeout=T)
            t0 = time.monotonic()
            async with connect(d.ws_url("/v1/audio"), additional_headers=d.auth) as mute_ws:
                error = await recv_json(mute_ws, T)
                assert error["type"] == "error" and error["code"] == "timeout"
                await asyncio.wait_for(mute_ws.wait_closed(), T)
                assert mute_ws.close_code == 1008
            await good.progresses(2)
            assert await asyncio.to_thread(mute_tcp.recv, 1) == b""  # the daemon hung up
            assert time.monotonic() - t0 < 10 + 5
            mute_tcp.close()
            await good.progresses(2)
        assert d.stats()["errors_sent"] >= 1
        assert_clean_log(d)
    finally:
        assert d.stop() == 0, d.log()


async def test_capture_that_stops_calling_back_is_noticed_and_reopened(
    tmp_path: Path, pulse: PulseServer, examples_16k: dict[str, np.ndarray]
) -> None:
    """The sound server freezes (SIGSTOP): no callbacks, no error. The daemon notices
    within a few seconds, ends the ``system`` stream and reopens it once sound is back."""
    assert pulse.proc is not None
    d = start_daemon(tmp_path / "d", "--capture", "system", env=pulse.env)
    try:
        async with bystander(d, examples_16k["calm"]) as good, connect(
            d.ws_url("/v1/events?streams=system"), additional_headers=d.auth
        ) as events:  # fmt: skip
            await next_message(events, lambda m: m["type"] == "mood", 60)
            pulse.proc.send_signal(signal.SIGSTOP)
            try:
                frozen = time.monotonic()
                await next_message(events, lambda m: m["type"] == "stream_end")
                noticed_s = time.monotonic() - frozen
                await good.progresses(2)
            finally:
                pulse.proc.send_signal(signal.SIGCONT)
            await next_message(events, lambda m: m["type"] == "stream_start", 60)
            await next_message(events, lambda m: m["type"] == "mood", 60)
            await good.progresses(2)
        assert noticed_s < 8, f"the stall took {noticed_s:.1f} s to notice"
        capture_lines = [line for line in d.log().splitlines() if "sources.capture" in line]
        assert "no audio callbacks" in d.log(), "\n".join(capture_lines)
        assert d.stats()["capture_restarts"] >= 1
        assert_clean_log(d)
    finally:
        with contextlib.suppress(ProcessLookupError):
            pulse.proc.send_signal(signal.SIGCONT)
        assert d.stop() == 0, d.log()


async def test_a_killed_daemon_restarted_on_its_port_is_found_again_by_retrying_clients(
    tmp_path: Path, examples_16k: dict[str, np.ndarray]
) -> None:
    """SIGKILL, no goodbye. The same port and config dir (so the same token) come back;
    the tab and its subscriber, retrying with backoff, resume without any help."""
    current = [start_daemon(tmp_path)]
    tab = Bystander(lambda: current[0], "tab-7", examples_16k["aggressive"])
    try:
        async with tab:
            await tab.progresses(1, within_s=60)
            first = current[0]
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(T)
            before = (len(tab.moods), tab.connects)
            failures = tab.failures
            await until(lambda: tab.failures > failures, T, "the tab to notice and back off")
            current[0] = await asyncio.to_thread(start_daemon, tmp_path, "--port",
                                                 str(first.port))  # fmt: skip
            assert current[0].port == first.port and current[0].token == first.token
            await tab.progresses(2, within_s=60)
        after = tab.moods[before[0] :]
        assert tab.connects > before[1]
        assert after[0]["seq"] < tab.moods[before[0] - 1]["seq"] or after[0]["seq"] == 0
        assert [m["seq"] for m in after] == sorted(m["seq"] for m in after)
    finally:
        assert current[0].stop() == 0, current[0].log()
    assert_clean_log(current[0])


# -- churn -------------------------------------------------------------------------------

WARMUP_CYCLES = 100
"""Loads the model and lets caches and allocator arenas reach their working size."""
CYCLES = 1000
WORKERS = 8
MAX_RSS_GROWTH_KB = 5 * 1024
FIXED_MMAP_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
"""Each analysis session allocates ~3.5 MB of rings. glibc raises its mmap threshold after
the first such block is freed, and from then on serves them from the heap, which keeps
the peak of concurrently live sessions as RSS (seen: +24 MB in one run, +0.1 MB in the
next). Pinning the threshold (glibc's default value) keeps what this test measures to
memory that is really retained."""


def churn(d: RunningDaemon, cycles: int, prefix: str) -> list[str]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda i: cycle_retrying_busy(d.port, d.token, f"{prefix}{i}"),
                             range(cycles)))  # fmt: skip


def settle(read: Callable[[], int], target: int, within_s: float = 10.0) -> int:
    """``read()`` once it is down to ``target``, or its value after ``within_s`` (for the
    assertion to report)."""
    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: read() <= target, within_s, f"{target} or less", poll_s=0.2)
    return read()


@pytest.mark.slow
def test_a_thousand_resets_mid_frame_leak_neither_memory_nor_descriptors(tmp_path: Path) -> None:
    d = start_daemon(tmp_path, "--log-level", "warning", env=FIXED_MMAP_THRESHOLD)
    pid = d.proc.pid
    try:
        assert set(churn(d, WARMUP_CYCLES, "warm-")) == {"ready"}  # loads the model too
        wait_until(lambda: d.stats()["streams"] == 0, T, "the warm-up streams to close")
        fds0, rss0 = open_fds(pid), rss_kb(pid)
        t0 = time.monotonic()
        replies = churn(d, CYCLES, "churn-")
        took_s = time.monotonic() - t0
        assert replies.count("ready") == CYCLES, {r: replies.count(r) for r in set(replies)}
        live = settle(lambda: int(d.stats()["streams"]), 0)  # the last ones are closing
        fds = settle(lambda: open_fds(pid), fds0)
        stats = d.stats()
        assert live == 0, f"{live} streams still live after their sockets were reset"
        rss = rss_kb(pid)
        assert fds <= fds0, f"open fds {fds0} -> {fds}: {sorted(os.listdir(f'/proc/{pid}/fd'))}"
        assert rss - rss0 < MAX_RSS_GROWTH_KB, f"RSS {rss0} -> {rss} KiB over {CYCLES} cycles"
        assert stats["streams"] == 0 and stats["streams_total"] == WARMUP_CYCLES + CYCLES
        print(f"churn: {CYCLES} cycles in {took_s:.1f} s; RSS {rss0} -> {rss} KiB, "
              f"fds {fds0} -> {fds}")  # fmt: skip
        assert half_frame_then_reset(d.port, d.token, "after") == "ready"
        assert_clean_log(d)
    finally:
        assert d.stop() == 0, d.log()
