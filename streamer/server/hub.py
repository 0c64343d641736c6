"""Fan-out of mood events and stream lifecycle messages to any number of subscribers.

Publishing never waits: each subscriber has one bounded :class:`asyncio.Queue` (256
messages by default) and whoever iterates the :class:`Subscription` is its relay. When a
queue is full the subscriber is dropped on the spot (its iterator raises
:class:`~streamchill.streamer.errors.SubscriberDropped`), so one stuck client can never delay the
analysis or the other subscribers.

Each stream keeps a replay ring of its last 600 mood events, so a subscriber that
reconnects with ``since`` gets what it missed. ``seq`` is made monotonic per stream
*name* for the daemon's lifetime: when a stream name comes back (a tab reconnects) its
new session's events are renumbered to continue after the last seq published.

All methods must be called on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamchill.analyzer.events import MoodEvent
from streamchill.streamer.errors import SubscriberDropped
from streamchill.streamer.server.messages import HubMessage, StreamEnd, StreamStart, to_json
from streamchill.streamer.server.stats import Stats

log = logging.getLogger(__name__)

REPLAY_EVENTS = 600
"""Mood events held per stream for ``since`` resume (10 minutes at one event per second)."""
SUBSCRIBER_QUEUE = 256
"""Messages a subscriber may fall behind before it is dropped."""
KEEP_ENDED = 32
"""Ended streams whose rings are kept, so a reconnecting subscriber still gets their tail."""

_CLOSED = object()
_DROPPED = object()
_NUDGE = object()
"""Wakes a consumer blocked on an empty queue after :meth:`Subscription.update` filled
the backlog."""


TEXT_CACHE = 1024
"""Serialized messages remembered, newest first: a few seconds of events of many streams."""
_texts: OrderedDict[int, tuple[HubMessage, str]] = OrderedDict()


def message_text(message: HubMessage) -> str:
    """The JSON text of a published message, serialized once however many subscribers
    relay it (every subscriber receives the very same message object).

    Keyed by identity, holding the message so its id cannot be reused while cached;
    called on the event loop's thread only, like the rest of the hub."""
    key = id(message)
    hit = _texts.get(key)
    if hit is not None and hit[0] is message:
        return hit[1]
    text = to_json(message)
    _texts[key] = (message, text)
    if len(_texts) > TEXT_CACHE:
        _texts.popitem(last=False)
    return text


@dataclass
class _StreamState:
    start: StreamStart
    ring: deque[MoodEvent]
    end: StreamEnd | None = None
    seq_base: int = 0
    """Added to the current session's seq so seq never goes back for this name."""
    last_seq: int | None = None

    def after(self, seq: int) -> list[MoodEvent]:
        return [e for e in self.ring if e.seq > seq]


@dataclass(eq=False)
class Subscription(AsyncIterator[HubMessage]):
    """One subscriber's view of the hub: an async iterator of messages.

    Iteration ends when :meth:`close` is called (or the hub closes); it raises
    :class:`SubscriberDropped` when the subscriber fell behind and was dropped. Delivered
    mood events are strictly increasing in ``seq`` per stream (duplicates from a replay
    overlapping live traffic are skipped).
    """

    hub: EventHub
    streams: frozenset[str] | None
    """Stream names delivered; ``None`` means all."""
    maxsize: int
    lifecycle: bool = True
    """Also deliver :class:`StreamStart`/:class:`StreamEnd`, not only mood events."""
    dropped: bool = False
    closed: bool = False
    on_drop: Callable[[], None] | None = None
    """Called (once, on the loop) when the hub drops this subscriber, so a relay stuck in a
    slow socket write can be told to give up; the iterator raises as well."""
    _queue: asyncio.Queue[Any] = field(init=False)
    _backlog: deque[HubMessage] = field(default_factory=deque)
    """Snapshot/replay messages, delivered before the queue; bounded by the replay rings."""
    _last_seq: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.maxsize)

    def wants(self, message: HubMessage) -> bool:
        """Whether ``message`` passes this subscriber's filter."""
        if not self.lifecycle and not isinstance(message, MoodEvent):
            return False
        return self.streams is None or message.stream in self.streams

    @property
    def pending(self) -> int:
        """Messages waiting for the consumer (queue depth plus backlog)."""
        return self._queue.qsize() + len(self._backlog)

    def close(self) -> None:
        """Stop this subscription; a waiting iterator ends. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.hub._forget(self)
        self._wake(_CLOSED)

    def update(self, streams: frozenset[str] | None, since: Mapping[str, int]) -> None:
        """Change the filter; replay ``since`` as on subscribe (seq restarts at since+1)."""
        self.streams = streams
        self._backlog.extend(self.hub._snapshot(self, since, only=set(since)))
        if self._backlog and self._queue.empty():
            self._queue.put_nowait(_NUDGE)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> HubMessage:
        while True:
            if self.dropped:
                raise SubscriberDropped(f"subscriber fell {self.maxsize} messages behind")
            if self._backlog:
                item: Any = self._backlog.popleft()
            elif self.closed and self._queue.empty():
                raise StopAsyncIteration
            else:
                item = await self._queue.get()
            if item is _DROPPED or item is _NUDGE:
                continue  # loop top raises, or takes the backlog
            if item is _CLOSED:
                raise StopAsyncIteration
            if not self.wants(item):
                continue  # the filter changed while it waited
            if isinstance(item, MoodEvent):
                if item.seq <= self._last_seq.get(item.stream, -1):
                    continue
                self._last_seq[item.stream] = item.seq
            return item

    # -- called by the hub --------------------------------------------------------------

    def _offer(self, message: HubMessage) -> bool:
        """Queue ``message`` without waiting; False (and dropped) if the queue is full."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            self._wake(_DROPPED)
            if self.on_drop is not None:
                self.on_drop()
            return False
        return True

    def _wake(self, sentinel: object) -> None:
        # Make room for the sentinel: a dropped/closed subscriber gets nothing more anyway.
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(sentinel)


class EventHub:
    """Fan-out point between stream sources and subscribers (WebSocket, MQTT, ...)."""

    def __init__(
        self,
        *,
        replay_events: int = REPLAY_EVENTS,
        keep_ended: int = KEEP_ENDED,
        stats: Stats | None = None,
    ) -> None:
        if replay_events < 1 or keep_ended < 0:
            raise ValueError("replay_events must be >= 1 and keep_ended >= 0")
        self.replay_events = replay_events
        self.keep_ended = keep_ended
        self.stats = stats or Stats()
        self._streams: OrderedDict[str, _StreamState] = OrderedDict()
        self._subs: set[Subscription] = set()

    # -- sources --------------------------------------------------------------------------

    def publish(self, message: HubMessage) -> HubMessage:
        """Record and fan out one message; return it as published (seq renumbered,
        ``last_seq`` filled in). Never waits; slow subscribers are dropped."""
        if isinstance(message, StreamStart):
            message = self._start(message)
        elif isinstance(message, StreamEnd):
            message = self._end(message)
        else:
            message = self._event(message)
        for sub in list(self._subs):
            if not sub.wants(message):
                continue
            if not sub._offer(message):
                self._subs.discard(sub)
                self.stats.subscribers_dropped += 1
                self.stats.subscribers = len(self._subs)
                log.warning(
                    "dropped a subscriber (streams=%s): its queue of %d messages was full",
                    "all" if sub.streams is None else ",".join(sorted(sub.streams)),
                    sub.maxsize,
                )
            else:
                self.stats.events_out += 1
        return message

    def _start(self, message: StreamStart) -> StreamStart:
        state = self._streams.get(message.stream)
        if state is None:
            state = _StreamState(start=message, ring=deque(maxlen=self.replay_events))
            self._streams[message.stream] = state
        else:
            if state.end is None:
                log.warning("stream %r started again before it ended", message.stream)
            state.start, state.end = message, None
            state.seq_base = 0 if state.last_seq is None else state.last_seq + 1
            self._streams.move_to_end(message.stream)
        self.stats.streams_total += 1
        self._count_streams()
        return message

    def _end(self, message: StreamEnd) -> StreamEnd:
        state = self._streams.get(message.stream)
        if state is None:
            return message
        state.end = StreamEnd(stream=message.stream, last_seq=state.last_seq)
        self._count_streams()
        ended = [name for name, s in self._streams.items() if s.end is not None]
        for name in ended[: max(0, len(ended) - self.keep_ended)]:
            del self._streams[name]
        return state.end

    def _event(self, event: MoodEvent) -> MoodEvent:
        state = self._streams.get(event.stream)
        if state is None:  # a source that skipped StreamStart: still a stream
            self._start(StreamStart(stream=event.stream, source="unknown"))
            state = self._streams[event.stream]
        if state.seq_base:
            event = dataclasses.replace(event, seq=event.seq + state.seq_base)
        if state.last_seq is not None and event.seq <= state.last_seq:
            # A source bug would otherwise break every subscriber's resume logic.
            event = dataclasses.replace(event, seq=state.last_seq + 1)
        state.last_seq = event.seq
        state.ring.append(event)
        self.stats.events_published += 1
        return event

    def _count_streams(self) -> None:
        self.stats.streams = sum(1 for s in self._streams.values() if s.end is None)

    # -- subscribers --------------------------------------------------------------------

    def subscribe(
        self,
        streams: Iterable[str] | None = None,
        *,
        maxsize: int = SUBSCRIBER_QUEUE,
        since: Mapping[str, int] | None = None,
        lifecycle: bool = True,
    ) -> Subscription:
        """A new subscription. It first yields, per live stream it wants, the latest mood
        event, or for a stream named in ``since`` every held event with a larger seq
        (plus its :class:`StreamEnd` if it has ended); then live messages."""
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        sub = Subscription(
            hub=self,
            streams=None if streams is None else frozenset(streams),
            maxsize=maxsize,
            lifecycle=lifecycle,
        )
        sub._backlog.extend(self._snapshot(sub, dict(since or {})))
        self._subs.add(sub)
        self.stats.subscribers = len(self._subs)
        return sub

    def _snapshot(
        self, sub: Subscription, since: Mapping[str, int], only: set[str] | None = None
    ) -> list[HubMessage]:
        """Messages a (re)subscribing ``sub`` gets first; sets its per-stream resume points."""
        out: list[HubMessage] = []
        for name, state in self._streams.items():
            if only is not None and name not in only:
                continue
            if sub.streams is not None and name not in sub.streams:
                continue
            seq = since.get(name)
            if seq is not None and state.last_seq is not None and seq <= state.last_seq:
                sub._last_seq[name] = seq
                out.extend(state.after(seq))
                if state.end is not None and sub.lifecycle:
                    out.append(state.end)
            elif state.end is None and state.ring:
                # No since, or a since from an earlier daemon run (larger than any seq we
                # published): the current state, and live events from there on.
                sub._last_seq.pop(name, None)
                out.append(state.ring[-1])
        return out

    def _forget(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        self.stats.subscribers = len(self._subs)

    def close(self) -> None:
        """End every subscription (daemon shutdown)."""
        for sub in list(self._subs):
            sub.close()

    # -- queries ------------------------------------------------------------------------

    def latest(self, stream: str) -> MoodEvent | None:
        """The last mood event published for ``stream`` (live or recently ended)."""
        state = self._streams.get(stream)
        return state.ring[-1] if state is not None and state.ring else None

    def live_streams(self) -> list[str]:
        """Names of the streams that have started and not ended, oldest first."""
        return [name for name, s in self._streams.items() if s.end is None]

    def stream_info(self) -> list[dict[str, Any]]:
        """One summary per live stream, for ``GET /v1/streams``."""
        out = []
        for name in self.live_streams():
            state = self._streams[name]
            last = state.ring[-1] if state.ring else None
            out.append(
                {
                    "stream": name,
                    "state": None if last is None else last.state.value,
                    "calm_probability": None
                    if last is None
                    else last.to_dict()["calm_probability"],
                    "media_time_s": None if last is None else round(last.media_time_s, 3),
                    "seq": state.last_seq,
                    "title": state.start.title,
                    "url": state.start.url,
                    "source": state.start.source,
                }
            )
        return out

    @property
    def subscriber_count(self) -> int:
        """Subscribers attached now."""
        return len(self._subs)
