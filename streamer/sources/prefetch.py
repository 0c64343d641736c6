"""Decode ahead: pull a block iterator on its own thread, hand blocks over a bounded queue.

Batch analysis alternates two costs that do not depend on each other: decoding the next
blocks (PyAV, packet by packet, mostly Python and FFmpeg) and analysing the current one.
:func:`decoded_ahead` runs the decoder on a thread so that, where a second core is free,
both proceed at once. The queue holds at most ``depth`` blocks, so memory stays bounded
(a file is still never held whole); a decoder error is raised in the consumer at the point
where the block it could not produce would have come.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

DEPTH = 4
"""Blocks decoded ahead of the analysis (4 x 1 s of 44.1 kHz stereo float32: ~1.4 MB)."""


class _End:
    """Sentinel: the producer is done; ``error`` is what stopped it, if anything did."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def decoded_ahead(blocks: Iterator[T], *, depth: int = DEPTH) -> Generator[T, None, None]:
    """Yield what ``blocks`` yields, produced up to ``depth`` items ahead on a thread.

    The producer thread is always stopped and joined before this generator ends, however
    it ends (exhausted, an error on either side, or the consumer closing it early), so the
    caller may close what ``blocks`` reads from (a media container) right afterwards.
    """
    if depth < 1:
        raise ValueError("depth must be >= 1")
    handoff: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T | _End) -> bool:
        """Put unless the consumer stopped; waits in short slices so a stop is seen."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        error: BaseException | None = None
        try:
            for item in blocks:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            error = exc
        put(_End(error))

    thread = threading.Thread(target=produce, name="decode-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()
