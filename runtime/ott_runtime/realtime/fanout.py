"""Cross-replica fan-out through PostgreSQL LISTEN/NOTIFY.

Every replica sends what its own pipeline stores to the ``ottc_stream`` channel and feeds
what the others sent into its local hub. An ingest batch's messages are NOTIFYed inside its
own transaction, so PostgreSQL delivers them at commit and in commit order: with the
tenant's commit-order lock, a client of another replica sees one tenant's rows in id order
and cannot move its resume cursor past a row it has not been sent. Messages published
outside an ingest transaction (e.g. a series alert) are forwarded after the fact. Payloads are
packed into NOTIFY messages below PostgreSQL's 8000-byte limit and tagged with the
sending replica, which ignores its own. NOTIFY is best effort across a lost connection:
when the listening connection drops, every local client is told it lagged and catches
up from the stored rows, so nothing is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ott_runtime.ingest.pubsub import Message
from ott_runtime.storage.repositories import TenantData
from ott_runtime.storage.scope import ScopedRepository

log = logging.getLogger(__name__)
CHANNEL = "ottc_stream"
MAX_PAYLOAD = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
MAX_PENDING = 100_000


def plain_dsn(url: str) -> str:
    """asyncpg wants postgresql://, without SQLAlchemy's +driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pack(origin: str, messages: list[Message]) -> list[str]:
    """NOTIFY payloads, each under MAX_PAYLOAD bytes; a message too big alone is skipped
    (its clients get it on resume)."""
    payloads: list[str] = []
    batch: list[bytes] = []
    size = 0
    head = orjson.dumps({"o": origin, "m": []})
    for message in messages:
        item = orjson.dumps([message.tenant, message.topic, message.payload])
        if len(head) + len(item) + 1 > MAX_PAYLOAD:
            log.warning("live message of %d bytes too big for NOTIFY; skipped", len(item))
            continue
        if batch and len(head) + size + len(item) + 1 > MAX_PAYLOAD:
            payloads.append(_payload(origin, batch))
            batch, size = [], 0
        batch.append(item)
        size += len(item) + 1
    if batch:
        payloads.append(_payload(origin, batch))
    return payloads


def _payload(origin: str, items: list[bytes]) -> str:
    return origin_prefix(origin) + ",".join(i.decode() for i in items) + "]}"


def origin_prefix(origin: str) -> str:
    """How every payload a replica packs begins: it knows its own without decoding them."""
    return '{"o":' + orjson.dumps(origin).decode() + ',"m":['


def unpack(payload: str) -> tuple[str, list[Message]]:
    document = orjson.loads(payload)
    return str(document["o"]), [Message(t, topic, p) for t, topic, p in document["m"]]


class StreamNotices(ScopedRepository):
    """NOTIFY from inside a tenant's transaction: delivered only if, and when, it commits."""

    async def send(self, payloads: Sequence[str]) -> None:
        await self._session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            [{"channel": CHANNEL, "payload": payload} for payload in payloads],
        )


class PostgresFanout:
    def __init__(
        self,
        database_url: str,
        deliver: Callable[[Message], None],
        on_gap: Callable[[], None],
        *,
        reconnect_seconds: float = 1.0,
    ) -> None:
        self.dsn = plain_dsn(database_url)
        self.origin = uuid.uuid4().hex[:16]
        self._own = origin_prefix(self.origin)
        self._deliver, self._on_gap = deliver, on_gap
        self._reconnect = reconnect_seconds
        self._pending: asyncio.Queue[Message] = asyncio.Queue(MAX_PENDING)
        self._tasks: list[asyncio.Task[Any]] = []
        self._listening = asyncio.Event()
        self.received = 0
        self.sent = 0

    async def announce(self, data: TenantData, messages: Sequence[Message]) -> None:
        """The ingest pipeline's announcer: its batch's messages, in its transaction."""
        await data.repository(StreamNotices).send(pack(self.origin, list(messages)))
        self.sent += len(messages)

    def forward(self, message: Message) -> None:
        """Queues a locally published message for the other replicas (never blocks)."""
        try:
            self._pending.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("NOTIFY backlog full; remote clients catch up from storage")

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_loop(), name="fanout-listen"),
            asyncio.create_task(self._notify_loop(), name="fanout-notify"),
        ]
        await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        # every replica also hears its own batches (~100 KB a batch of 100 events): skipped
        # undecoded, they cost nothing
        if payload.startswith(self._own):
            return
        try:
            origin, messages = unpack(payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a malformed %s notification", CHANNEL)
            return
        if origin == self.origin:
            return
        for message in messages:
            self.received += 1
            self._deliver(message)

    async def _listen_loop(self) -> None:
        first = True
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._on_notify)
                if not first:
                    self._on_gap()  # messages sent while we were away: catch up from storage
                first = False
                self._listening.set()
                await lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("LISTEN failed (%s); retrying", error)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(self._reconnect)

    async def _notify_loop(self) -> None:
        connection: asyncpg.Connection | None = None
        while True:
            first = await self._pending.get()
            batch = [first]
            while not self._pending.empty() and len(batch) < 1000:
                batch.append(self._pending.get_nowait())
            payloads = pack(self.origin, batch)
            while True:  # a batch is retried until sent: the other replicas must not miss it
                try:
                    if connection is None or connection.is_closed():
                        connection = await asyncpg.connect(self.dsn)
                    await connection.executemany(
                        "SELECT pg_notify($1, $2)", [(CHANNEL, p) for p in payloads]
                    )
                    self.sent += len(batch)
                    break
                except (OSError, asyncpg.PostgresError) as error:
                    log.warning("NOTIFY failed (%s); retrying", error)
                    connection = None
                    await asyncio.sleep(self._reconnect)
