"""In-process publish/subscribe of ingest results, per tenant.

Each subscriber has a bounded queue: a slow subscriber loses the oldest messages and is
told how many (``lagged``) instead of slowing ingest or the other subscribers. The
WebSocket and GraphQL subscriptions build on this; across replicas PostgreSQL
LISTEN/NOTIFY will feed :meth:`Broker.publish` too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    tenant: str
    topic: str  # "events" | "violations" | "risk"
    payload: dict[str, Any]
    # already sent to the other replicas inside the transaction that stored it (in commit
    # order); the cross-replica fan-out must not send it again
    notified: bool = False


@dataclass(eq=False)  # identity semantics: kept in a set
class Subscription:
    tenant: str
    topics: frozenset[str]
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    lagged: int = 0  # messages dropped because this subscriber fell behind

    def offer(self, message: Message) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.lagged += 1
        self.queue.put_nowait(message)

    async def get(self) -> Message:
        return await self.queue.get()


class Broker:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._listeners: list[Callable[[Message], None]] = []

    def add_listener(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Calls ``listener`` synchronously with every published message, of every tenant
        (the live stream hub and the cross-replica fan-out). It must not block or raise.
        Returns a function that removes it again."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, message: Message) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(message)
            except Exception:  # publishing happens after the commit: never fail the request
                log.exception("pub/sub listener failed on a %s message", message.topic)
        for subscription in self._subscriptions.get(message.tenant, ()):
            if message.topic in subscription.topics:
                subscription.offer(message)

    @asynccontextmanager
    async def subscribe(
        self, tenant: str, topics: frozenset[str] = frozenset({"events", "violations", "risk"})
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(tenant, topics, asyncio.Queue(maxsize=self._queue_size))
        self._subscriptions.setdefault(tenant, set()).add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions[tenant].discard(subscription)

    def subscriber_count(self, tenant: str) -> int:
        return len(self._subscriptions.get(tenant, ()))
