"""The event hub: fan-out that never waits, drops slow subscribers, and replays on resume."""

from __future__ import annotations

import asyncio

import pytest

from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures
from streamchill.streamer.errors import SubscriberDropped
from streamchill.streamer.server.hub import EventHub, Subscription
from streamchill.streamer.server.messages import HubMessage, StreamEnd, StreamStart

TIMEOUT_S = 2.0


def mood(stream: str, seq: int, state: MoodState = MoodState.CALM) -> MoodEvent:
    """A minimal mood event of ``stream`` with the given seq (one event per second)."""
    return MoodEvent(
        stream=stream,
        seq=seq,
        media_time_s=float(seq + 1),
        window_start_s=0.0,
        window_end_s=float(seq + 1),
        state=state,
        changed=False,
        warming_up=False,
        calm_probability=0.8,
        speech_probability=0.0,
        features=WindowFeatures(1.0, 90.0, 2.0, -20.0),
    )


async def take(sub: Subscription, n: int) -> list[HubMessage]:
    """The next ``n`` messages of ``sub``, failing the test if they do not come in time."""

    async def collect() -> list[HubMessage]:
        return [await anext(sub) for _ in range(n)]

    return await asyncio.wait_for(collect(), TIMEOUT_S)


async def nothing_pending(sub: Subscription) -> bool:
    """True if ``sub`` has no message ready within a short wait."""
    try:
        await asyncio.wait_for(anext(sub), 0.05)
    except TimeoutError:
        return True
    return False


def seqs(messages: list[HubMessage]) -> list[int]:
    return [m.seq for m in messages if isinstance(m, MoodEvent)]


async def test_every_subscriber_gets_every_message_in_order() -> None:
    hub = EventHub()
    a, b = hub.subscribe(), hub.subscribe()
    hub.publish(StreamStart(stream="tab-1", title="Song"))
    for i in range(5):
        hub.publish(mood("tab-1", i))
    hub.publish(StreamEnd(stream="tab-1"))
    for sub in (a, b):
        got = await take(sub, 7)
        assert isinstance(got[0], StreamStart) and got[0].title == "Song"
        assert seqs(got) == [0, 1, 2, 3, 4]
        assert got[-1] == StreamEnd(stream="tab-1", last_seq=4)
    assert hub.stats.events_out == 14


async def test_a_stream_filter_selects_streams_and_lifecycle_can_be_left_out() -> None:
    hub = EventHub()
    only_a = hub.subscribe({"a"})
    moods_only = hub.subscribe(lifecycle=False)
    hub.publish(StreamStart(stream="a"))
    hub.publish(StreamStart(stream="b"))
    hub.publish(mood("b", 0))
    hub.publish(mood("a", 0))
    got = await take(only_a, 2)
    assert isinstance(got[0], StreamStart) and got[0].stream == "a"
    assert isinstance(got[1], MoodEvent) and got[1].stream == "a"
    assert [(m.stream, type(m)) for m in await take(moods_only, 2)] == [
        ("b", MoodEvent),
        ("a", MoodEvent),
    ]
    assert await nothing_pending(only_a)


async def test_a_new_subscriber_first_gets_the_current_state_of_each_live_stream() -> None:
    hub = EventHub()
    for name in ("a", "b", "gone"):
        hub.publish(StreamStart(stream=name))
        for i in range(3):
            hub.publish(mood(name, i))
    hub.publish(StreamEnd(stream="gone"))
    sub = hub.subscribe()
    got = await take(sub, 2)
    assert [(m.stream, m.seq) for m in got if isinstance(m, MoodEvent)] == [("a", 2), ("b", 2)]
    assert await nothing_pending(sub)
    assert hub.live_streams() == ["a", "b"]
    assert hub.latest("gone") is not None and hub.latest("gone").seq == 2  # type: ignore[union-attr]


async def test_a_subscriber_that_never_reads_is_dropped_and_others_go_on() -> None:
    hub = EventHub()
    stuck = hub.subscribe(maxsize=8)
    reader = hub.subscribe(maxsize=8)
    hub.publish(StreamStart(stream="a"))
    received: list[int] = []
    for i in range(50):
        hub.publish(mood("a", i))  # never awaits, whatever the subscribers do
        received += seqs(await take(reader, 1 if i else 2))
    assert received == list(range(50))
    assert stuck.dropped and not reader.dropped
    assert hub.stats.subscribers_dropped == 1 and hub.subscriber_count == 1
    with pytest.raises(SubscriberDropped):
        await asyncio.wait_for(anext(stuck), TIMEOUT_S)


async def test_since_replays_what_was_missed_and_then_goes_live() -> None:
    hub = EventHub(replay_events=600)
    hub.publish(StreamStart(stream="a"))
    for i in range(100):
        hub.publish(mood("a", i))
    sub = hub.subscribe({"a"}, since={"a": 41})
    hub.publish(mood("a", 100))
    assert seqs(await take(sub, 59)) == list(range(42, 101))


async def test_the_replay_ring_is_bounded() -> None:
    hub = EventHub(replay_events=10)
    for i in range(100):
        hub.publish(mood("a", i))
    sub = hub.subscribe(since={"a": 0})
    assert seqs(await take(sub, 10)) == list(range(90, 100))
    assert await nothing_pending(sub)


async def test_since_on_an_ended_stream_replays_its_tail_and_its_end() -> None:
    hub = EventHub()
    hub.publish(StreamStart(stream="a"))
    for i in range(5):
        hub.publish(mood("a", i))
    hub.publish(StreamEnd(stream="a"))
    got = await take(hub.subscribe(since={"a": 2}), 3)
    assert seqs(got) == [3, 4]
    assert got[-1] == StreamEnd(stream="a", last_seq=4)


async def test_a_since_from_an_earlier_daemon_run_gets_the_current_state() -> None:
    hub = EventHub()
    for i in range(3):
        hub.publish(mood("a", i))
    sub = hub.subscribe(since={"a": 5000, "not-yet": 7})
    assert seqs(await take(sub, 1)) == [2]
    hub.publish(mood("a", 3))
    hub.publish(mood("not-yet", 0))
    assert [(m.stream, m.seq) for m in await take(sub, 2)] == [
        ("a", 3),
        ("not-yet", 0),
    ]


async def test_seq_stays_monotonic_when_a_stream_name_comes_back() -> None:
    hub = EventHub()
    sub = hub.subscribe(lifecycle=False)
    hub.publish(StreamStart(stream="tab-1"))
    for i in range(3):
        hub.publish(mood("tab-1", i))
    hub.publish(StreamEnd(stream="tab-1"))
    hub.publish(StreamStart(stream="tab-1"))
    for i in range(2):  # a fresh session counts from 0 again
        published = hub.publish(mood("tab-1", i))
    assert isinstance(published, MoodEvent) and published.seq == 4
    assert seqs(await take(sub, 5)) == [0, 1, 2, 3, 4]


async def test_update_changes_the_filter_and_replays_since() -> None:
    hub = EventHub()
    sub = hub.subscribe({"a"})
    for i in range(5):
        hub.publish(mood("b", i))
    sub.update(frozenset({"b"}), {"b": 2})
    assert seqs(await take(sub, 2)) == [3, 4]


async def test_close_ends_iteration_and_detaches() -> None:
    hub = EventHub()
    sub = hub.subscribe()
    assert hub.stats.subscribers == 1
    waiter = asyncio.create_task(anext(sub))
    await asyncio.sleep(0)
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, TIMEOUT_S)
    assert hub.stats.subscribers == 0
    hub.publish(mood("a", 0))
    assert sub.pending == 0


async def test_hub_close_ends_every_subscription() -> None:
    hub = EventHub()
    subs = [hub.subscribe() for _ in range(3)]
    hub.close()

    async def drain(sub: Subscription) -> list[HubMessage]:
        return [m async for m in sub]

    assert await asyncio.wait_for(asyncio.gather(*(drain(s) for s in subs)), TIMEOUT_S) == [
        [],
        [],
        [],
    ]


async def test_stream_info_and_stats_describe_live_streams() -> None:
    hub = EventHub()
    hub.publish(StreamStart(stream="a", title="T", url="https://x", source="extension"))
    hub.publish(mood("a", 0, MoodState.AGGRESSIVE))
    hub.publish(StreamStart(stream="system", source="capture"))
    info = {i["stream"]: i for i in hub.stream_info()}
    assert info["a"]["state"] == "aggressive" and info["a"]["title"] == "T"
    assert info["system"]["state"] is None and info["system"]["source"] == "capture"
    assert hub.stats.streams == 2 and hub.stats.events_published == 1
    hub.publish(StreamEnd(stream="a"))
    assert hub.stats.streams == 1


async def test_ended_streams_kept_for_resume_are_bounded() -> None:
    hub = EventHub(keep_ended=2)
    for n in range(5):
        hub.publish(mood(f"s{n}", 0))
        hub.publish(StreamEnd(stream=f"s{n}"))
    assert [hub.latest(f"s{n}") is not None for n in range(5)] == [False, False, False, True, True]


async def test_update_wakes_a_consumer_that_is_already_waiting() -> None:
    hub = EventHub()
    for i in range(3):
        hub.publish(mood("a", i))
    sub = hub.subscribe({"b"})
    waiter = asyncio.create_task(anext(sub))
    await asyncio.sleep(0.01)
    sub.update(frozenset({"a"}), {"a": 0})
    first = await asyncio.wait_for(waiter, TIMEOUT_S)
    assert isinstance(first, MoodEvent) and first.seq == 1


async def test_a_message_is_serialized_once_for_all_subscribers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamchill.streamer.server import hub as hub_module
    from streamchill.streamer.server.messages import to_json

    calls: list[object] = []

    def counting(message: HubMessage) -> str:
        calls.append(message)
        return to_json(message)

    monkeypatch.setattr(hub_module, "to_json", counting)
    hub = EventHub()
    subs = [hub.subscribe() for _ in range(5)]
    published = hub.publish(mood("a", 0))
    texts = set()
    for sub in subs:
        (got,) = await take(sub, 1)
        texts.add(hub_module.message_text(got))
    assert texts == {to_json(published)}
    assert calls == [published]
    # The next message is serialized once too.
    other = hub.publish(mood("a", 1))
    assert hub_module.message_text(other) == to_json(other) and len(calls) == 2
