"""The daemon's analysis pool: a few streams analysed at once, and a stream waiting on the
shared CNN gives its turn away, so the other streams' hops go on meanwhile."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from streamchill.analyzer.audio import SampleFormat
from streamchill.streamer.server.live_session import analyzer_session
from streamchill.streamer.server.pool import AnalysisPool, cap_malloc_arenas
from tests.support.waiting import wait_until

T = 10.0  # seconds any single wait may take


class Overlap:
    """Counts how many tasks are inside :meth:`run` at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.most = 0

    def run(self, hold_s: float, until: threading.Event | None = None) -> None:
        """Stay inside for ``hold_s``, or until ``until`` is set."""
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        if until is None:
            time.sleep(hold_s)
        else:
            until.wait(hold_s)
        with self._lock:
            self.now -= 1


def run_all(pool: AnalysisPool, task: Callable[[], object], n: int) -> None:
    """Submit ``task`` ``n`` times, wait for all, shut the pool down."""
    try:
        for future in [pool.submit(task) for _ in range(n)]:
            future.result(T)
    finally:
        pool.shutdown()


def test_no_more_than_its_turns_of_tasks_run_at_once() -> None:
    pool = AnalysisPool(turns=2, max_threads=8)
    overlap, go_on = Overlap(), threading.Event()
    futures = [pool.submit(overlap.run, T, go_on) for _ in range(6)]
    try:
        wait_until(lambda: overlap.now == 2, T, "two tasks running at once")
        time.sleep(0.2)  # a third one, were it let in, would be in by now
        assert overlap.now == 2
    finally:
        go_on.set()
        for future in futures:
            future.result(T)
        pool.shutdown()
    assert overlap.most == 2


def test_a_task_waiting_on_the_cnn_lets_another_stream_run() -> None:
    pool = AnalysisPool(turns=1, max_threads=4)
    released = threading.Event()

    def waits_for_the_cnn() -> bool:
        with pool.waiting():  # as ModelBundle.judge does around musicnn
            return released.wait(T)

    try:
        waiting = pool.submit(waits_for_the_cnn)
        # With its only turn held by the waiting task, this one could never start.
        pool.submit(released.set).result(T)
        assert waiting.result(T) is True
    finally:
        released.set()
        pool.shutdown()


def test_a_task_takes_its_turn_back_after_waiting() -> None:
    pool = AnalysisPool(turns=1, max_threads=4)
    overlap = Overlap()

    def waits_then_works() -> None:
        with pool.waiting():
            time.sleep(0.02)
        overlap.run(0.05)

    run_all(pool, waits_then_works, 4)
    assert overlap.most == 1


def test_waiting_outside_the_pool_adds_no_turn() -> None:
    pool = AnalysisPool(turns=1, max_threads=4)
    overlap = Overlap()
    with pool.waiting():  # a one-shot analysis on its own thread, say
        pass
    run_all(pool, lambda: overlap.run(0.03), 4)
    assert overlap.most == 1


def test_the_daemons_session_gives_its_turn_away_for_every_musicnn_call(
    examples_16k: dict[str, np.ndarray],
) -> None:
    entered = 0

    @contextlib.contextmanager
    def teacher_wait() -> Iterator[None]:
        nonlocal entered
        entered += 1
        yield

    session = analyzer_session("s", 16_000, 1, SampleFormat.F32LE, teacher_wait=teacher_wait)
    session.feed(examples_16k["speech"])  # speech: musicnn judges most of its patches
    counts = session.cascade_counts  # type: ignore[attr-defined]
    assert counts.teacher > 0
    assert entered == counts.teacher


def test_malloc_arenas_can_be_capped_on_glibc() -> None:
    import platform

    capped = cap_malloc_arenas(3)
    if platform.libc_ver()[0] == "glibc":
        assert capped is True
    else:
        assert capped is False
