"""Listen to what a PulseAudio sink plays: ``parec`` on the sink's monitor, in a thread.

The browser tests use it to check that a page is *audible* (not assume it): Chromium plays
into the private null sink of :mod:`tests.support.pulse`, and a window of the monitor
recorded after some moment tells whether anything came out of the speakers since then.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from array import array
from types import TracebackType

from tests.support.pulse import SINK, PulseServer

#: Recording format: 16 kHz mono s16le is plenty to tell sound from silence.
RATE_HZ = 16_000
#: One read from parec, in bytes (50 ms).
CHUNK_BYTES = RATE_HZ * 2 // 20
#: RMS (full scale 1.0) above which a window counts as audible: -46 dBFS. The quietest
#: half second of the shipped calm example is 0.024; digital silence is 0.
AUDIBLE_RMS = 0.005


class SinkRecorder:
    """Records the test sink's monitor from start to close, timestamping every chunk."""

    def __init__(self, pulse: PulseServer) -> None:
        self._proc = subprocess.Popen(
            ["parec", "-d", f"{SINK}.monitor", "--format=s16le", f"--rate={RATE_HZ}",
             "--channels=1", "--latency-msec=50", "--raw"],
            env={**os.environ, **pulse.env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._chunks: list[tuple[float, array[int]]] = []  # (monotonic time read, samples)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="sink-recorder", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read(CHUNK_BYTES):
            samples = array("h", chunk[: len(chunk) // 2 * 2])
            with self._lock:
                self._chunks.append((time.monotonic(), samples))

    def rms(self, since: float, seconds: float, timeout_s: float = 10.0) -> float:
        """RMS of what played from ``since`` (monotonic) for ``seconds``; waits for it."""
        end = since + seconds
        deadline = time.monotonic() + seconds + timeout_s
        while True:
            with self._lock:
                done = bool(self._chunks) and self._chunks[-1][0] >= end
                window = [c for t, c in self._chunks if since < t <= end]
            if done:
                break
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise TimeoutError(f"parec delivered no audio up to {seconds} s after the mark")
            time.sleep(0.05)
        n = sum(len(c) for c in window)
        if n == 0:
            return 0.0
        return math.sqrt(sum(x * x for c in window for x in c) / n) / 32768.0

    def rms_next(self, seconds: float = 1.0) -> float:
        """RMS of the next ``seconds`` of playback (from now), for an assertion message."""
        return self.rms(time.monotonic(), seconds)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(5)
        self._thread.join(5)

    def __enter__(self) -> SinkRecorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
