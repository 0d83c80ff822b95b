"""Fan-out of live messages to connected clients, each with a bounded queue.

:meth:`StreamHub.dispatch` is synchronous and never waits: it offers each message to the
matching feeds, and a feed that is full stops taking messages and is marked *lagged*
(its session tells the client and catches up from the stored rows). So a slow client
costs only its own queue; ingest and the other clients never wait for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from ott_runtime.domain.cursors import encode_cursor
from ott_runtime.ingest.pubsub import Message
from ott_runtime.realtime.protocol import CHANNEL_OF, ChannelFilter

DEFAULT_QUEUE_SIZE = 1000


@dataclass(eq=False)
class Delivery:
    """One message on one channel, shared by every feed it goes to (encoded once)."""

    channel: str
    seq: int
    data: dict[str, Any]

    @cached_property
    def frame(self) -> str:
        return orjson.dumps(
            {
                "type": "message",
                "channel": self.channel,
                "cursor": encode_cursor(self.seq),
                "data": self.data,
            }
        ).decode()


@dataclass(eq=False)
class ClientFeed:
    """A client's live subscriptions and its bounded queue of deliveries.

    Control items (anything that is not a :class:`Delivery`, e.g. a replay request) are
    queued in order with the deliveries but never count against the bound."""

    tenant: str
    capacity: int = DEFAULT_QUEUE_SIZE
    default_threshold: float = 0.8
    filters: dict[str, ChannelFilter] = field(default_factory=dict)
    dropped: int = 0
    lagging: bool = False
    _items: deque[object] = field(default_factory=deque)
    _deliveries: int = 0
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, delivery: Delivery) -> None:
        channel_filter = self.filters.get(delivery.channel)
        if channel_filter is not None and channel_filter.matches(
            delivery.channel, delivery.data, self.default_threshold
        ):
            self.take(delivery)

    def take(self, delivery: Delivery) -> None:
        """Queues a delivery already known to pass this feed's filter."""
        if self.lagging or self._deliveries >= self.capacity:
            # stop here rather than drop the oldest: the session resumes from the last
            # delivery it sent, so nothing in between is skipped
            self.lagging = True
            self.dropped += 1
            self._ready.set()
            return
        self._items.append(delivery)
        self._deliveries += 1
        self._ready.set()

    def put_control(self, item: object) -> None:
        self._items.append(item)
        self._ready.set()

    def mark_lagged(self) -> None:
        """Makes the session catch up from the stored rows (e.g. the fan-out reconnected)."""
        self.lagging = True
        self._ready.set()

    def pending(self) -> int:
        return self._deliveries

    async def next(self) -> object | None:
        """The next queued item, or None when the queue is empty and the feed is lagging."""
        while not self._items:
            if self.lagging:
                return None
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if isinstance(item, Delivery):
            self._deliveries -= 1
        return item


class StreamHub:
    """The live feeds of one process, by tenant."""

    def __init__(self, *, default_threshold: Callable[[str], float] | None = None) -> None:
        self._feeds: dict[str, set[ClientFeed]] = {}
        self._threshold = default_threshold or (lambda _tenant: 0.8)
        self.delivered = 0  # deliveries offered to feeds (for metrics)

    def dispatch(self, message: Message) -> None:
        """Offers a published message to the tenant's feeds. Never blocks."""
        feeds = self._feeds.get(message.tenant)
        channel = CHANNEL_OF.get(message.topic)
        if not feeds or channel is None:
            return
        seq = message.payload.get("seq")
        if not isinstance(seq, int):
            return  # only stored rows (with their resume cursor) are streamed
        delivery = Delivery(channel, seq, message.payload)
        # one filter decision per distinct filter (most clients share a handful), and the
        # frame is encoded once, on first use, for every feed that takes it
        verdicts: dict[tuple[ChannelFilter, float], bool] = {}
        for feed in tuple(feeds):
            channel_filter = feed.filters.get(channel)
            if channel_filter is None:
                continue
            key = (channel_filter, feed.default_threshold)
            verdict = verdicts.get(key)
            if verdict is None:
                verdict = channel_filter.matches(channel, delivery.data, feed.default_threshold)
                verdicts[key] = verdict
            if verdict:
                feed.take(delivery)
        self.delivered += len(feeds)

    def attach(self, tenant: str, capacity: int = DEFAULT_QUEUE_SIZE) -> ClientFeed:
        feed = ClientFeed(tenant, capacity, self._threshold(tenant))
        self._feeds.setdefault(tenant, set()).add(feed)
        return feed

    def detach(self, feed: ClientFeed) -> None:
        feeds = self._feeds.get(feed.tenant)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._feeds[feed.tenant]

    async def follow(
        self,
        tenant: str,
        channel: str,
        channel_filter: ChannelFilter,
        capacity: int = DEFAULT_QUEUE_SIZE,
    ) -> AsyncIterator[dict[str, Any]]:
        """Live messages of one channel (GraphQL subscriptions): no resume, so a lagging
        follower skips what it missed."""
        feed = self.attach(tenant, capacity)
        feed.filters[channel] = channel_filter
        try:
            while True:
                item = await feed.next()
                if item is None:
                    feed.lagging, feed.dropped = False, 0
                elif isinstance(item, Delivery):
                    yield item.data
        finally:
            self.detach(feed)

    def mark_all_lagged(self) -> None:
        for feed in self.feeds():
            feed.mark_lagged()

    def feeds(self) -> Iterator[ClientFeed]:
        for feeds in self._feeds.values():
            yield from feeds

    def client_count(self, tenant: str | None = None) -> int:
        if tenant is not None:
            return len(self._feeds.get(tenant, ()))
        return sum(len(feeds) for feeds in self._feeds.values())
