"""A hop's event leaves as soon as its hop is done: before the session judges a patch that
completes later in the same block, and before the stream's worker call returns."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures
from streamchill.analyzer.session import Session
from streamchill.streamer.server.hub import EventHub
from streamchill.streamer.server.ingest import AnalysisStream
from streamchill.streamer.server.messages import StreamEnd
from tests.support.waiting import until

T = 10.0  # seconds any single wait may take
RATE = 16_000


def test_feed_each_yields_a_hop_before_judging_a_later_patch(examples_16k: dict) -> None:
    x = examples_16k["aggressive"][: 7 * RATE]
    twin = Session("s", sample_rate_hz=RATE)
    session = Session("s", sample_rate_hz=RATE, keep_history=True)
    assert session.history is not None
    expected = twin.feed(x[: 3 * RATE]) + twin.feed(x[3 * RATE :])
    got = list(session.feed_each(x[: 3 * RATE]))  # the first patch ends at 2.992 s
    judged_at: dict[float, int] = {}
    for event in session.feed_each(x[3 * RATE :]):  # hops 4..7; the next patch ends at 6.48 s
        judged_at[event.media_time_s] = len(session.history)
        got.append(event)
    assert [e.to_json() for e in got] == [e.to_json() for e in expected]
    # Hop 6's event came out before the patch completing 0.48 s later in the block was judged.
    assert judged_at[6.0] == 1 and judged_at[7.0] == 2


def _event(stream: str, seq: int) -> MoodEvent:
    return MoodEvent(stream, seq, float(seq + 1), 0.0, float(seq + 1), MoodState.CALM,
                     False, False, 0.9, 0.0, WindowFeatures(1.0, 80.0, 1.0, -20.0))  # fmt: skip


class TwoHopSession:
    """One block, two hops; the second hop's work waits until the test lets it go on."""

    def __init__(self) -> None:
        self.go_on = threading.Event()
        self.feed_returned = threading.Event()

    def feed_each(self, block: bytes | np.ndarray) -> Iterator[MoodEvent]:
        try:
            yield _event("s", 0)
            assert self.go_on.wait(T), "the test never saw the first event"
            yield _event("s", 1)
        finally:
            self.feed_returned.set()

    def feed(self, block: bytes | np.ndarray) -> list[MoodEvent]:
        return list(self.feed_each(block))

    def finish(self) -> list[MoodEvent]:
        return [_event("s", 2)]


async def test_the_stream_publishes_each_event_while_its_block_is_still_analysed() -> None:
    hub = EventHub()
    sub = hub.subscribe()
    session = TwoHopSession()
    with ThreadPoolExecutor(max_workers=1) as executor:
        stream = AnalysisStream(
            "s", session, hub=hub, stats=hub.stats, executor=executor,
            max_queued=1_000, max_feed=100,
        )  # fmt: skip
        assert stream.offer(b"\0" * 100)
        await until(lambda: hub.stats.events_published == 1, T, "the first hop's event")
        assert not session.feed_returned.is_set()  # published while the block was analysed
        session.go_on.set()
        await asyncio.wait_for(stream.close(), T)
    got = [await asyncio.wait_for(anext(sub), T) for _ in range(4)]
    assert [m.seq for m in got if isinstance(m, MoodEvent)] == [0, 1, 2]
    assert isinstance(got[-1], StreamEnd)  # after every event, never before
