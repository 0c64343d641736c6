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
#: RMS (full scale 1.0) above which a block counts as audible: -54 dBFS. The quietest
#: quarter second of the shipped calm example is 0.010; a cut path gives exactly 0.
AUDIBLE_RMS = 0.002
#: Length of the blocks a window is judged in, in s: every block must be audible, so a
#: little audio from before a cut (read late, under load) cannot carry a silent window.
BLOCK_S = 0.25


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

    def block_rms(
        self, since: float, seconds: float, timeout_s: float = 10.0
    ) -> list[float | None]:
        """RMS of each BLOCK_S block of what played from ``since`` (monotonic) for
        ``seconds`` (by the time parec delivered it); waits until it has been delivered.
        None for a block parec delivered nothing in."""
        end = since + seconds
        deadline = time.monotonic() + seconds + timeout_s
        while True:
            with self._lock:
                done = bool(self._chunks) and self._chunks[-1][0] >= end
                window = [(t, c) for t, c in self._chunks if since < t <= end]
            if done:
                break
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise TimeoutError(f"parec delivered no audio up to {seconds} s after the mark")
            time.sleep(0.05)
        blocks: list[list[int]] = [[] for _ in range(max(1, round(seconds / BLOCK_S)))]
        for t, chunk in window:
            blocks[min(len(blocks) - 1, int((t - since) / BLOCK_S))].extend(chunk)
        return [math.sqrt(sum(x * x for x in b) / len(b)) / 32768.0 if b else None for b in blocks]

    def quietest_block_rms(self, seconds: float = 1.0) -> float:
        """The lowest block RMS of the next ``seconds`` of playback (from now).

        Only blocks parec delivered audio in count: its chunks are timed when they are read,
        and parec sometimes stalls for up to ~0.7 s while Chrome opens or closes a stream on
        the sink, then delivers what played meanwhile at once. The block it left empty says
        nothing about the page (the sink's monitor gives zeros for silence, not nothing).
        0.0 when parec delivered nothing at all in the window: not heard is not audible."""
        heard = [rms for rms in self.block_rms(time.monotonic(), seconds) if rms is not None]
        return min(heard, default=0.0)

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
