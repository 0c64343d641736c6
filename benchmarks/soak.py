"""Soak: a real daemon, N simulated tabs streaming in real time, a subscriber, broker restarts.

    python benchmarks/soak.py --tabs 4 --minutes 30 [--mqtt] [--json soak.json]

Each tab loops one of the shipped examples (``models/examples``) like the extension sends
audio: even tabs 16 kHz mono s16le, odd tabs 48 kHz stereo f32le, 100 ms frames paced in
real time. Every ``--tab-cycle-min`` a tab says ``bye`` and reconnects under the same name
(a page reload), so seq must continue across its sessions. One ``/v1/events`` subscriber
counts events per stream and checks that seq never skips; on an unexpected disconnect it
resumes with ``?since=`` (counted as a reconnect). With ``--mqtt`` a mosquitto broker is
started and SIGKILLed/restarted every ``--broker-restart-min``.

Every ``--report-s`` it prints the daemon's RSS, open fds, ``/v1/stats`` counters, reconnects
and event latency percentiles (arrival of a mood event - sending of the frame that holds its
``media_time_s``). At the end a summary; the exit code is 1 if the daemon's memory still
grows after warm-up (slope of a linear fit over the second half above
``--max-slope-mb-per-h``), any seq was skipped, the daemon died, or its log shows an
unhandled exception.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402

from tests.support.daemon import RunningDaemon, http_get, start_daemon  # noqa: E402

FRAME_S = 0.1
SAMPLE_EVERY_S = 10.0
FORMATS = [("s16le", 16_000, 1), ("f32le", 48_000, 2)]
"""(sample_format, sample_rate_hz, channels) of even and odd tabs."""
BAD_LOG_MARKERS = ("Traceback", "Task exception was never retrieved", "Unhandled exception")


def load_audio() -> dict[tuple[str, str], bytes]:
    """(example kind, sample_format) -> the whole clip as wire bytes, ready to loop."""
    import soxr

    from streamchill.streamer.sources.decode import decode_file

    out = {}
    for path in sorted((ROOT / "models" / "examples").glob("*.ogg")):
        audio = decode_file(path)
        kind = path.stem.split("-")[0]
        for fmt, rate, channels in FORMATS:
            mono = audio.samples.mean(axis=1)
            x = soxr.resample(mono, audio.sample_rate_hz, rate).astype(np.float32)
            x = np.repeat(x[:, None], channels, axis=1)
            if fmt == "s16le":
                out[kind, fmt] = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
            else:
                out[kind, fmt] = x.astype("<f4").tobytes()
    return out


@dataclass
class Tab:
    """One simulated tab: reconnects with backoff like the extension, paces real time."""

    name: str
    fmt: str
    rate: int
    channels: int
    audio: bytes
    sent: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=900))
    """(media time at the end of a frame in s, perf_counter when it was sent), this session."""
    sessions: int = 0
    reconnects: int = 0
    """Unplanned: the connection failed or dropped."""
    dropped_warnings: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def frame_bytes(self) -> int:
        width = 2 if self.fmt == "s16le" else 4
        return int(self.rate * FRAME_S) * self.channels * width

    def sent_at(self, media_time_s: float) -> float | None:
        """When the frame that completed ``media_time_s`` was sent (None if not this session)."""
        ends = [end for end, _ in self.sent]
        i = bisect.bisect_left(ends, media_time_s - 1e-6)
        if not ends or i == len(ends) or media_time_s < ends[0] - FRAME_S:
            return None
        return self.sent[i][1]

    async def run(self, daemon: Any, stop_at: float, cycle_s: float) -> None:
        backoff = 0.5
        pos = random.randrange(0, len(self.audio) // self.frame_bytes) * self.frame_bytes
        while time.monotonic() < stop_at:
            try:
                pos = await self._session(daemon(), pos, min(stop_at, time.monotonic() + cycle_s))
                backoff = 0.5
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                self.reconnects += 1
                self.errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 10.0)

    async def _session(self, d: RunningDaemon, pos: int, until: float) -> int:
        hello = {"type": "hello", "v": 1, "stream": self.name, "sample_rate_hz": self.rate,
                 "channels": self.channels, "sample_format": self.fmt, "title": "soak"}  # fmt: skip
        async with connect(d.ws_url("/v1/audio"), additional_headers=d.auth,
                           open_timeout=10, compression=None) as ws:  # fmt: skip
            await ws.send(json.dumps(hello))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if ready.get("type") != "ready":
                raise OSError(f"daemon answered {ready}")
            self.sessions += 1
            self.sent.clear()
            reader = asyncio.create_task(self._read(ws))
            t0, i = time.perf_counter(), 0
            try:
                while time.monotonic() < until:
                    await asyncio.sleep(max(0.0, t0 + i * FRAME_S - time.perf_counter()))
                    if pos + self.frame_bytes > len(self.audio):
                        pos = 0
                    frame = self.audio[pos : pos + self.frame_bytes]
                    pos += self.frame_bytes
                    i += 1
                    self.sent.append((i * FRAME_S, time.perf_counter()))
                    await asyncio.wait_for(ws.send(frame), 10)
                await asyncio.wait_for(ws.send(json.dumps({"type": "bye"})), 10)
                await asyncio.wait_for(reader, 30)
            finally:
                reader.cancel()
        return pos

    async def _read(self, ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                data = json.loads(message)
                if data.get("code") == "dropped_audio":
                    self.dropped_warnings += 1
                elif data.get("type") == "error":
                    self.errors.append(str(data.get("code")))


@dataclass
class Subscriber:
    """Counts events per stream, checks seq continuity, measures latency."""

    tabs: dict[str, Tab]
    last_seq: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    """Since the last report, in seconds."""
    all_latencies: list[float] = field(default_factory=list)
    reconnects: int = 0

    async def run(self, daemon: Any, stop_at: float) -> None:
        first = True
        while time.monotonic() < stop_at:
            since = ",".join(f"{s}:{n}" for s, n in self.last_seq.items())
            path = "/v1/events" + (f"?since={since}" if since else "")
            if not first:
                self.reconnects += 1
            first = False
            try:
                async with connect(daemon().ws_url(path), additional_headers=daemon().auth,
                                   open_timeout=10, max_size=None) as ws:  # fmt: skip
                    async for message in ws:
                        self._on(json.loads(message), time.perf_counter())
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                await asyncio.sleep(0.5)

    def _on(self, data: dict[str, Any], arrived: float) -> None:
        if data.get("type") != "mood":
            return
        stream, seq = data["stream"], int(data["seq"])
        last = self.last_seq.get(stream)
        if last is not None and seq != last + 1:
            self.gaps.append(f"{stream}: seq {last} -> {seq}")
        if last is None or seq > last:
            self.last_seq[stream] = seq
        self.events[stream] = self.events.get(stream, 0) + 1
        tab = self.tabs.get(stream)
        sent = tab.sent_at(float(data["media_time_s"])) if tab else None
        if sent is not None and arrived >= sent:
            self.latencies.append(arrived - sent)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def slope_mb_per_h(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    if len(samples) < 3:
        return 0.0
    t, m = np.array(samples).T
    return float(np.polyfit(t / 3600, m, 1)[0])


async def main(args: argparse.Namespace) -> int:
    print("decoding the shipped examples ...", flush=True)
    audio = load_audio()
    kinds = sorted({k for k, _ in audio})
    work = Path(tempfile.mkdtemp(prefix="streamchill-soak-"))
    broker = None
    extra: list[str] = []
    if args.mqtt:
        from tests.support.mosquitto import Mosquitto

        broker = Mosquitto(work / "mosquitto")
        broker.start()
        extra = ["--mqtt", broker.url]
    env = {"STREAMCHILL_MAX_STREAMS": str(max(16, args.tabs + 2))}
    d = start_daemon(work / "daemon", *extra, env=env)
    print(f"daemon pid {d.proc.pid} on port {d.port}; work dir {work}", flush=True)

    def current() -> RunningDaemon:
        return d

    tabs = {}
    for i in range(args.tabs):
        fmt, rate, channels = FORMATS[i % 2]
        kind = kinds[i % len(kinds)]
        tabs[f"tab-{i}"] = Tab(f"tab-{i}", fmt, rate, channels, audio[kind, fmt])
    sub = Subscriber(tabs)
    t_start = time.monotonic()
    stop_at = t_start + args.minutes * 60
    cycle_s = args.tab_cycle_min * 60
    tasks = [asyncio.create_task(sub.run(current, stop_at + 5))]
    for k, tab in enumerate(tabs.values()):
        await asyncio.sleep(0.25 * (k > 0))
        tasks.append(asyncio.create_task(tab.run(current, stop_at, cycle_s)))
    samples: list[tuple[float, float, int]] = []
    next_report = t_start + args.report_s
    next_restart = t_start + args.broker_restart_min * 60
    broker_restarts = 0
    stats: dict[str, Any] = {}
    print(f"{'min':>5} {'rss_MB':>7} {'fds':>4} {'streams':>7} {'frames_in':>9} {'dropped':>7} "
          f"{'events':>7} {'subs_drop':>9} {'mqtt_rc':>7} {'tab_rc':>6} {'sub_rc':>6} "
          f"{'p50_ms':>7} {'p95_ms':>7} {'p99_ms':>7} {'max_ms':>7}", flush=True)  # fmt: skip
    while time.monotonic() < stop_at and d.alive():
        await asyncio.sleep(SAMPLE_EVERY_S)
        now = time.monotonic()
        samples.append((now - t_start, rss_mb(d.proc.pid), open_fds(d.proc.pid)))
        status, body = await asyncio.to_thread(http_get, d.port, "/v1/stats", d.auth)
        if status == 200:
            stats = body
        if broker is not None and now >= next_restart:
            await asyncio.to_thread(broker.restart)
            broker_restarts += 1
            next_restart = now + args.broker_restart_min * 60
        if now >= next_report:
            next_report += args.report_s
            lat, sub.latencies = sub.latencies, []
            sub.all_latencies += lat
            print(f"{(now - t_start) / 60:5.1f} {samples[-1][1]:7.1f} {samples[-1][2]:4d} "
                  f"{stats.get('streams', 0):7.0f} {stats.get('frames_in', 0):9.0f} "
                  f"{stats.get('frames_dropped', 0):7.0f} {stats.get('events_published', 0):7.0f} "
                  f"{stats.get('subscribers_dropped', 0):9.0f} "
                  f"{stats.get('mqtt_reconnects', 0):7.0f} "
                  f"{sum(t.reconnects for t in tabs.values()):6d} {sub.reconnects:6d} "
                  f"{pct(lat, 50):7.0f} {pct(lat, 95):7.0f} {pct(lat, 99):7.0f} "
                  f"{max(lat, default=float('nan')) * 1000:7.0f}", flush=True)  # fmt: skip
    await asyncio.sleep(5)  # late events of the last hop
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sub.all_latencies += sub.latencies
    died = not d.alive()
    code = d.stop() if not died else d.proc.returncode
    if broker is not None:
        broker.stop()
    log = d.log()
    bad_lines = [ln for ln in log.splitlines() if any(m in ln for m in BAD_LOG_MARKERS)]
    second_half = [(t, m) for t, m, _ in samples if t >= args.minutes * 30]
    slope = slope_mb_per_h(second_half)
    rss = [m for _, m, _ in samples]
    fds = [f for _, _, f in samples]
    summary = {
        "command": " ".join(sys.argv),
        "tabs": args.tabs,
        "minutes": args.minutes,
        "mqtt": args.mqtt,
        "broker_restarts": broker_restarts,
        "rss_mb": {
            "first": rss[0] if rss else None,
            "max": max(rss, default=None),
            "last": rss[-1] if rss else None,
        },
        "rss_slope_second_half_mb_per_h": round(slope, 2),
        "fds": {
            "first": fds[0] if fds else None,
            "max": max(fds, default=None),
            "last": fds[-1] if fds else None,
        },
        "events_per_stream": sub.events,
        "seq_gaps": sub.gaps,
        "subscriber_reconnects": sub.reconnects,
        "tab_sessions": {n: t.sessions for n, t in tabs.items()},
        "tab_reconnects": {n: t.reconnects for n, t in tabs.items()},
        "tab_errors": {n: t.errors[:5] for n, t in tabs.items() if t.errors},
        "dropped_audio_warnings": sum(t.dropped_warnings for t in tabs.values()),
        "latency_ms": {q: round(pct(sub.all_latencies, q), 1) for q in (50, 90, 95, 99)},
        "latency_max_ms": round(max(sub.all_latencies, default=float("nan")) * 1000, 1),
        "stats": stats,
        "daemon_died": died,
        "daemon_exit_code": code,
        "log_problems": bad_lines[:10],
    }
    print(json.dumps(summary, indent=2), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    failures = []
    if slope > args.max_slope_mb_per_h:
        failures.append(f"memory grows {slope:.1f} MB/h after warm-up")
    if sub.gaps:
        failures.append(f"{len(sub.gaps)} seq gaps")
    if died or code != 0:
        failures.append(f"daemon died or exited with {code}")
    if bad_lines:
        failures.append(f"{len(bad_lines)} unhandled exceptions in the daemon log")
    print("FAIL: " + "; ".join(failures) if failures else "PASS", flush=True)
    return 1 if failures else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tabs", type=int, default=4, help="simulated tabs (default 4)")
    p.add_argument("--minutes", type=float, default=30.0, help="duration (default 30)")
    p.add_argument("--mqtt", action="store_true", help="start a mosquitto and publish to it")
    p.add_argument("--broker-restart-min", type=float, default=5.0,
                   help="SIGKILL and restart the broker this often (default 5)")  # fmt: skip
    p.add_argument("--tab-cycle-min", type=float, default=7.0,
                   help="each tab says bye and reconnects this often (default 7)")  # fmt: skip
    p.add_argument("--report-s", type=float, default=60.0, help="report interval (default 60)")
    p.add_argument("--max-slope-mb-per-h", type=float, default=12.0,
                   help="fail above this RSS growth over the second half (default 12)")  # fmt: skip
    p.add_argument("--json", help="also write the summary here")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
