"""Daemon-level figures through the real daemon subprocess: hop latency and memory.

The daemon (``streamchill daemon``, or ``naive_daemon.py`` for the baseline) runs pinned
to one core; this process, the client, runs on another where there is one. Streams
connect to ``/v1/audio`` like the extension (hello, then 100 ms frames of 44.1 kHz stereo
f32le paced in real time, staggered over a second), each from its own point of the
looped music (``SPREAD``; ``lockstep`` starts every stream at its beginning); one
``/v1/events`` subscriber receives every stream's events.

Latency of a hop = arrival of its event on the subscriber - sending of the frame that
completes the hop. Which frame completes which hop is known from the in-process run on
the same blocks (``streaming.stream_cost``); events are matched by stream and
``media_time_s``. A hop whose event never arrives counts as infinitely late. Once the
daemon drops a stream's audio (its queue is full: it cannot keep up), that stream's later
media times no longer line up with what was sent, so its later hops are not matched; the
drops are reported instead.

The run goes through phases that keep the earlier streams live: 1 stream, then N1, then
N2 streams. Memory (VmRSS) is read when the daemon is fresh (idle), after a warm-up
stream has loaded the models, and at the end of the first two phases.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from machine import ROOT, rss_mb
from music import BLOCK_S, CHANNELS, RATE_HZ

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 90.0
GRACE_S = 3.0
"""After the last frame, how long late events may still arrive (later = lost)."""
STAGGER_S = 1.0
"""New streams of a phase start spread over this long."""
SPREAD = (5**0.5 - 1) / 2
"""Stream j starts its audio at fraction ``j * SPREAD`` (mod 1) of the looped music: any
number of streams spread evenly over it. Independent tabs do not play the same music in
step; with every stream on the same audio from its start (``lockstep``), all 50 reached
each change of music, and asked musicnn for its close call, within the same second."""


@dataclass(frozen=True)
class Phase:
    streams: int
    """Streams live during this phase (the earlier ones included)."""
    duration_s: float


@dataclass
class StreamClient:
    """One ingest connection: what it sent when, and what the daemon warned about."""

    name: str
    start_at: float
    offset: int = 0
    """Index of the wire frame this stream's audio starts at (the music loops)."""
    sent_at: dict[int, float] = field(default_factory=dict)
    """perf_counter() just before each frame (by index) was sent."""
    drops: list[tuple[float, int]] = field(default_factory=list)
    """(arrival time, frames) of every ``dropped_audio`` warning: the daemon fell behind."""
    errors: list[str] = field(default_factory=list)

    async def run(self, url: str, headers: dict[str, str], wire: list[bytes], stop_at: float):
        await _sleep_until(self.start_at)
        hello = {"type": "hello", "v": 1, "stream": self.name, "sample_rate_hz": RATE_HZ,
                 "channels": CHANNELS, "sample_format": "f32le", "title": "benchmark"}  # fmt: skip
        async with connect(url, additional_headers=headers, compression=None) as ws:
            await ws.send(json.dumps(hello))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if ready.get("type") != "ready":
                raise RuntimeError(f"{self.name}: daemon answered {ready}")
            reader = asyncio.create_task(self._read(ws))
            t0 = time.perf_counter()
            try:
                for i in range(len(wire)):
                    due = t0 + i * BLOCK_S
                    if due >= stop_at:
                        break
                    await _sleep_until(due)
                    self.sent_at[i] = time.perf_counter()
                    await ws.send(wire[(self.offset + i) % len(wire)])
                await _sleep_until(stop_at + GRACE_S)
            finally:
                reader.cancel()

    async def _read(self, ws: ClientConnection) -> None:
        async for message in ws:
            data = json.loads(message)
            if data.get("code") == "dropped_audio":
                self.drops.append((time.perf_counter(), int(data.get("frames", 0))))
            elif data.get("type") == "error":
                self.errors.append(str(data.get("code")))


async def _sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _subscribe(
    url: str, headers: dict[str, str], got: dict[tuple[str, float], float], models: set[str]
) -> None:
    async with connect(url, additional_headers=headers, compression=None) as ws:
        async for message in ws:
            arrived = time.perf_counter()
            data = json.loads(message)
            if data.get("type") == "mood":
                got.setdefault((data["stream"], round(data["media_time_s"], 3)), arrived)
                models.add(str(data.get("model_version")))


class DaemonProcess:
    """A daemon subprocess on a free port with a private config dir, pinned to ``core``."""

    def __init__(self, kind: str, workdir: Path, core: int | None, max_streams: int) -> None:
        self.kind = kind
        ready = workdir / "ready.json"
        if kind == "ours":
            cmd = [sys.executable, "-m", "streamchill.streamer", "daemon"]
        else:
            cmd = [sys.executable, str(HERE / "naive_daemon.py")]
        cmd += ["--port", "0", "--config-dir", str(workdir / "config"),
                "--ready-file", str(ready), "--log-level", "warning"]  # fmt: skip
        env = dict(os.environ, STREAMCHILL_MAX_STREAMS=str(max_streams + 2))
        self.log_path = workdir / f"daemon-{kind}.log"
        log = self.log_path.open("wb")

        def pin_child() -> None:
            if core is not None:
                with contextlib.suppress(OSError, AttributeError):
                    os.sched_setaffinity(0, {core})

        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, preexec_fn=pin_child
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"daemon ({kind}) did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.port, self.token, self.pid = int(info["port"]), info["token"], int(info["pid"])
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stats(self) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/stats", headers=self.headers
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM; SIGKILL if it is still draining a backlog after a few seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _latency(
    clients: list[StreamClient],
    got: dict[tuple[str, float], float],
    hop_blocks: dict[float, int],
    window: tuple[float, float],
) -> dict[str, Any]:
    """Latencies of the hops whose completing frame was sent inside ``window``."""
    lat: list[float] = []
    lost = unmatched = 0
    for client in clients:
        # The first warning comes with the frame after the first drop, ~0.1 s later.
        drop_from = client.drops[0][0] - 0.5 if client.drops else None
        for media_s, block in hop_blocks.items():
            sent = client.sent_at.get(block)
            if sent is None or not window[0] <= sent < window[1]:
                continue
            if drop_from is not None and sent >= drop_from:
                unmatched += 1
                continue
            arrived = got.get((client.name, media_s))
            if arrived is None:
                lost += 1
            else:
                lat.append(1000.0 * (arrived - sent))
    n = len(lat) + lost
    values = np.sort(np.array(lat + [np.inf] * lost)) if n else np.zeros(0)

    def pct(q: float) -> float | None:
        if not n:
            return None
        v = float(values[min(n - 1, int(np.ceil(q / 100.0 * n)) - 1)])
        return None if np.isinf(v) else round(v, 2)

    sent_frames = sum(1 for c in clients for t in c.sent_at.values() if window[0] <= t < window[1])
    return {
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": round(max(lat), 2) if lat else None,
        "hops": n,
        "lost": lost,
        "unmatched_after_drops": unmatched,
        "streams": len(clients),
        "dropped_frames": sum(
            n for c in clients for t, n in c.drops if window[0] <= t < window[1] + 1.0
        ),
        "frames_sent": sent_frames,
    }


async def _run(
    daemon: DaemonProcess,
    wire: list[bytes],
    hop_blocks: dict[float, int],
    phases: list[Phase],
    lockstep: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {"rss_idle_mb": rss_mb(daemon.pid)}
    got: dict[tuple[str, float], float] = {}
    models: set[str] = set()
    subscriber = asyncio.create_task(
        _subscribe(daemon.url("/v1/events"), daemon.headers, got, models)
    )
    # A short stream first, so model loading is not counted as latency (it is as memory).
    warm = StreamClient("warm-up", start_at=time.perf_counter())
    await warm.run(daemon.url("/v1/audio"), daemon.headers, wire[:40], time.perf_counter() + 4.0)
    await asyncio.sleep(1.0)
    out["rss_loaded_mb"] = rss_mb(daemon.pid)

    clients: list[StreamClient] = []
    tasks: list[asyncio.Task[None]] = []
    t = time.perf_counter() + 0.5
    bounds: list[tuple[float, float]] = []
    for phase in phases:
        new = phase.streams - len(clients)
        for j in range(new):
            k = len(clients)
            offset = 0 if lockstep else round((k * SPREAD) % 1.0 * len(wire))
            client = StreamClient(f"bench-{k:03d}", start_at=t + STAGGER_S * j / new, offset=offset)
            clients.append(client)
        bounds.append((t, t + phase.duration_s))
        t += phase.duration_s
    stop_at = t
    need = round((stop_at - bounds[0][0]) / BLOCK_S) + 1
    if need > len(wire):
        raise ValueError(f"daemon run needs {need} frames of audio, have {len(wire)}")
    if len({len(frame) for frame in wire}) != 1:
        raise ValueError("streams start at different frames of the music: all must be 100 ms")
    for client in clients:
        task = asyncio.create_task(
            client.run(daemon.url("/v1/audio"), daemon.headers, wire, stop_at)
        )
        tasks.append(task)
    rss: list[float] = []
    for _start, end in bounds:
        await _sleep_until(end)
        rss.append(rss_mb(daemon.pid))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    subscriber.cancel()
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    out["rss_phases_mb"] = rss
    out["phases"] = []
    for i, (phase, (start, end)) in enumerate(zip(phases, bounds, strict=True)):
        live = clients[: phase.streams]
        # Latency counts once every stream of the phase has started.
        settled = start + (STAGGER_S if i else 0.0) + 0.5
        figures = _latency(live, got, hop_blocks, (settled, end))
        out["phases"].append({"streams": phase.streams, "duration_s": phase.duration_s,
                              "rss_mb": rss[i], **figures})  # fmt: skip
    # The naive daemon must really run the baseline (its events say so), and ours must not.
    if not models or any(m.startswith("naive+") != (daemon.kind == "naive") for m in models):
        raise RuntimeError(f"the {daemon.kind} daemon published model versions {sorted(models)}")
    out["model_versions"] = sorted(models)
    out["client_failures"] = failures
    out["client_errors"] = sorted({e for c in clients for e in c.errors})
    with contextlib.suppress(OSError):
        out["daemon_stats"] = daemon.stats()
    return out


def daemon_figures(
    kind: str,
    wire: list[bytes],
    hop_blocks: dict[float, int],
    phases: list[Phase],
    *,
    core: int | None,
    lockstep: bool = False,
) -> dict[str, Any]:
    """Start a daemon of ``kind``, run the phases, stop it; latency and memory figures."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        daemon = DaemonProcess(kind, Path(tmp), core, max(p.streams for p in phases))
        try:
            time.sleep(1.0)  # let the fresh daemon settle before its idle RSS
            out = asyncio.run(_run(daemon, wire, hop_blocks, phases, lockstep))
        except Exception as exc:
            raise RuntimeError(
                f"daemon benchmark ({kind}) failed: {exc}\n{daemon.log_tail()}"
            ) from exc
        finally:
            daemon.stop()
        out["daemon_log_tail"] = daemon.log_tail(5)
        # A stream whose analysis raised is closed with this code: a bug, whatever the latency.
        out["analysis_failures"] = daemon.log_text().count("analysis_failed")
    first, second = out["phases"][0], out["phases"][1]
    extra = second["streams"] - first["streams"]
    out["lockstep"] = lockstep
    out["rss_one_mb"] = first["rss_mb"]
    out["rss_per_extra_mb"] = (second["rss_mb"] - first["rss_mb"]) / extra if extra else None
    return out
