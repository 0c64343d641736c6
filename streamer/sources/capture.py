"""System audio (or any input device) as one more live stream, with sounddevice/PortAudio.

``--capture system`` on Linux opens PortAudio's ``pulse`` ALSA device with
``PULSE_SOURCE`` set to the monitor of the default sink, which works with PulseAudio and
PipeWire (pipewire-pulse) alike; on macOS and Windows it looks for a loopback input
(BlackHole, Loopback, Stereo Mix, ...). ``--capture DEVICE`` takes a name or an index.

The audio callback runs on PortAudio's thread and only copies the block and hands it
to the event loop (``call_soon_threadsafe``) into the stream's bounded queue; overflow
flags are counted. A stream that errors, goes inactive or stops delivering callbacks for
:data:`STALL_S` seconds is closed and reopened with capped, jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streamchill.analyzer.audio import SampleFormat
from streamchill.streamer.errors import SourceError
from streamchill.streamer.server.ingest import AnalysisStream
from streamchill.streamer.server.messages import StreamStart

if TYPE_CHECKING:
    from streamchill.streamer.server.app import DaemonServer

log = logging.getLogger(__name__)

STALL_S = 3.0
"""No callback for this long means the device or the sound server is gone."""
BLOCK_S = 0.1
"""Seconds of audio per callback."""
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
MAX_INFLIGHT = 64
"""Blocks handed to the loop but not yet taken; more are dropped (the loop is stuck)."""
LOOPBACK_HINTS = ("monitor", "blackhole", "loopback", "stereo mix", "what u hear", "soundflower")


class CaptureError(SourceError):
    """The capture device cannot be opened or stopped delivering audio."""


@dataclass(frozen=True)
class Device:
    """An input device as PortAudio lists it."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_rate_hz: float
    is_system_output: bool
    """True if capturing this device records what the machine plays."""


def _sd() -> Any:
    import sounddevice

    return sounddevice


def default_sink_monitor() -> str | None:
    """``<default sink>.monitor`` from the PulseAudio/PipeWire server, if one answers."""
    if not shutil.which("pactl"):
        return None
    try:
        out = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        if line.startswith("Default Sink:"):
            sink = line.split(":", 1)[1].strip()
            return f"{sink}.monitor" if sink else None
    return None


def list_devices() -> list[Device]:
    """Every input device; loopback-capable ones are marked."""
    sd = _sd()
    hostapis = sd.query_hostapis()
    out = []
    for info in sd.query_devices():
        if info["max_input_channels"] < 1:
            continue
        name = str(info["name"])
        lowered = name.lower()
        system = any(h in lowered for h in LOOPBACK_HINTS) or (
            sys.platform.startswith("linux") and name == "pulse"
        )
        out.append(Device(int(info["index"]), name, str(hostapis[info["hostapi"]]["name"]),
                          int(info["max_input_channels"]), float(info["default_samplerate"]),
                          system))  # fmt: skip
    return out


def resolve_device(spec: str) -> tuple[Device, dict[str, str]]:
    """The device for ``spec`` (``system``, an index or a name substring) and the
    environment variables to set while opening it."""
    devices = list_devices()
    env: dict[str, str] = {}
    if spec == "system":
        if sys.platform.startswith("linux"):
            monitor = default_sink_monitor()
            if monitor is None:
                raise CaptureError("no PulseAudio/PipeWire server answered `pactl info`")
            env["PULSE_SOURCE"] = monitor
            match = [d for d in devices if d.name == "pulse"]
            if not match:
                raise CaptureError("PortAudio has no `pulse` device (install libasound2-plugins)")
            return match[0], env
        match = [d for d in devices if d.is_system_output]
        if not match:
            raise CaptureError("no loopback input found: see docs/daemon.md (BlackHole, WASAPI)")
        return match[0], env
    if spec.isdigit():
        match = [d for d in devices if d.index == int(spec)]
    else:
        match = [d for d in devices if d.name == spec] or [
            d for d in devices if spec.lower() in d.name.lower()
        ]
    if not match:
        raise CaptureError(f"no input device {spec!r}; `streamchill devices` lists them")
    return match[0], env


class CaptureLoop:
    """Keeps one capture stream running for the daemon's lifetime."""

    def __init__(self, spec: str, *, server: DaemonServer, name: str = "system") -> None:
        self.spec = spec
        self.server = server
        self.name = name
        self.rate_hz = server.settings.capture_rate_hz
        self._last_callback = 0.0
        self._inflight = 0
        self._failed: str | None = None

    async def run(self) -> None:
        """Capture forever; failures are logged and retried, never raised."""
        backoff = BACKOFF_MIN_S
        stats = self.server.stats
        while True:
            started = time.monotonic()
            try:
                await self._run_once()
            except CaptureError as exc:
                log.warning("capture %r: %s", self.spec, exc)
            except Exception:
                log.exception("capture %r failed", self.spec)
            if time.monotonic() - started > 60:
                backoff = BACKOFF_MIN_S  # it ran fine for a while: retry quickly
            stats.capture_restarts += 1
            delay = backoff * random.uniform(0.8, 1.2)
            log.info("capture %r: reopening in %.1f s", self.spec, delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _run_once(self) -> None:
        server = self.server
        loop = asyncio.get_running_loop()
        device, env = await asyncio.to_thread(resolve_device, self.spec)
        rate = int(self.rate_hz or device.default_rate_hz)
        channels = min(2, device.channels)
        if self.name in server.live_names:
            raise CaptureError(f"stream name {self.name!r} is taken by an ingest stream")
        session = await loop.run_in_executor(
            server.executor, server.session_factory, self.name, rate, channels,
            SampleFormat.F32LE,
        )  # fmt: skip
        server.live_names.add(self.name)
        server.hub.publish(StreamStart(stream=self.name, title=device.name, source="capture"))
        stream = AnalysisStream(
            self.name, session, hub=server.hub, stats=server.stats, executor=server.executor,
            max_queued=int(rate * channels * server.settings.stream_queue_s),
            max_feed=rate * channels,
        )  # fmt: skip
        self._failed = None
        self._inflight = 0
        self._last_callback = time.monotonic()
        sd_stream = None
        try:
            sd_stream = await asyncio.to_thread(self._open, device, env, rate, channels, stream)
            log.info("capturing %r (%s, %s) at %d Hz, %d ch as stream %r%s", self.spec,
                     device.name, device.hostapi, rate, channels, self.name,
                     f" from {env['PULSE_SOURCE']}" if env else "")  # fmt: skip
            while True:
                await asyncio.sleep(0.25)
                if self._failed:
                    raise CaptureError(self._failed)
                if not sd_stream.active:
                    raise CaptureError("the audio stream stopped")
                if time.monotonic() - self._last_callback > STALL_S:
                    raise CaptureError(f"no audio callbacks for {STALL_S:g} s")
                if stream.done.done():
                    raise CaptureError("analysis of the captured audio failed")
        finally:
            if sd_stream is not None:
                _close_in_background(sd_stream)
            await stream.close()
            server.live_names.discard(self.name)

    def _open(
        self, device: Device, env: dict[str, str], rate: int, channels: int, stream: AnalysisStream
    ) -> Any:
        sd = _sd()
        loop = stream.done.get_loop()
        stats = self.server.stats

        def deliver(block: np.ndarray, overflow: bool) -> None:
            self._inflight -= 1
            self._last_callback = time.monotonic()
            if overflow:
                stats.overflows += 1
            stats.frames_in += 1
            stats.bytes_in += block.nbytes
            stream.offer(block)

        def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
            # PortAudio's thread: copy, hand off, nothing else.
            if self._inflight >= MAX_INFLIGHT:
                return
            self._inflight += 1
            loop.call_soon_threadsafe(deliver, indata.copy(), bool(status.input_overflow))

        def finished() -> None:
            self._failed = self._failed or "the audio stream finished"

        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # libpulse reads PULSE_SOURCE when the stream connects
        try:
            s = sd.InputStream(device=device.index, samplerate=rate, channels=channels,
                               dtype="float32", blocksize=int(rate * BLOCK_S),
                               callback=callback, finished_callback=finished)  # fmt: skip
            s.start()
        except Exception as exc:
            raise CaptureError(f"cannot open {device.name!r}: {exc}") from exc
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return s


def _close_in_background(sd_stream: Any) -> None:
    """Abort and close a PortAudio stream on a daemon thread: with the sound server gone,
    closing can block, and it must never block the loop or the daemon's exit."""

    def close() -> None:
        try:
            sd_stream.abort(ignore_errors=True)
            sd_stream.close(ignore_errors=True)
        except Exception:
            log.debug("closing the capture stream failed", exc_info=True)

    threading.Thread(target=close, name="capture-close", daemon=True).start()
