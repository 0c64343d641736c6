"""The daemon's analysis threads: one per busy stream, a few of them working at once.

Every live stream's analysis runs here, one call at a time per stream. Most of a call is
Python (the hop's mel, checks and state), which holds the GIL: more than two threads doing
that at once only stretched every hop (``analysis_threads``). But a call also blocks
whenever musicnn re-judges one of the stream's patches (~60 ms of CPU, one patch at a time
for the whole process, behind its lock). With a pool of two threads, two streams waiting on
musicnn held both threads, and every other stream's hops waited behind them: with 50
streams, p99 hop latency 277 ms. So the pool has a thread for each stream that may be busy,
and *turns*: a call needs a turn to run, and gives it away while it waits for musicnn
(:meth:`AnalysisPool.waiting`), so the other streams' hops go on meanwhile. Measured on one
quiet core with 50 streams (p99, two threads -> the pool): 59.9 -> 22.5 ms for independent
streams, 1,283 -> 913 ms for streams in step through a change of music (``docs/benchmarks.md``).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter number for the most malloc arenas (malloc.h)."""


def cap_malloc_arenas(arenas: int) -> bool:
    """Let glibc's malloc keep at most ``arenas`` arenas; False where that is not glibc.

    glibc gives each new thread that allocates its own arena, up to 8 per core, and each
    arena keeps the memory it freed. The pool has a thread for every busy stream, but only
    its turns run at once, so a few arenas serve them all. Measured through the daemon (one
    core, 1 -> 10 -> 50 streams): RSS per extra stream 2.69 / 3.00 MB with glibc's default
    (two runs), 2.54 MB with 2 arenas; 409 -> 374 MB with 50 streams.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


class AnalysisPool(Executor):
    """An executor whose tasks run ``turns`` at a time, on up to ``max_threads`` threads."""

    def __init__(self, turns: int, max_threads: int) -> None:
        if not 1 <= turns <= max_threads:
            raise ValueError(f"need 1 <= turns ({turns}) <= max_threads ({max_threads})")
        self.turns = turns
        self._turns = threading.BoundedSemaphore(turns)
        self._held = threading.local()
        self._threads = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="analysis")

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._threads.submit(self._in_turn, fn, *args, **kwargs)

    def _in_turn(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._turns:
            self._held.turn = True
            try:
                return fn(*args, **kwargs)
            finally:
                self._held.turn = False

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a blocking wait inside a task: its turn goes to another task meanwhile.

        Outside a task of this pool (a one-shot analysis on its own thread, say) it does
        nothing, so a model bundle carrying it can be used anywhere.
        """
        if not getattr(self._held, "turn", False):
            yield
            return
        self._held.turn = False
        self._turns.release()
        try:
            yield
        finally:
            self._turns.acquire()
            self._held.turn = True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __repr__(self) -> str:
        return f"AnalysisPool(turns={self.turns})"
