"""One `/v1/stream` connection, framework-free: authentication, subscriptions with resume,
heartbeat and lag recovery. The FastAPI endpoint only adapts its WebSocket to
:class:`StreamTransport`; tests can drive a session with any transport.

Every frame goes out through one writer task, in queue order, so a subscription's
replayed rows, its live messages and the control answers never interleave wrongly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from ott_runtime.domain.cursors import encode_cursor
from ott_runtime.realtime.hub import ClientFeed, Delivery, StreamHub
from ott_runtime.realtime.protocol import (
    CHANNELS,
    CLOSE_HEARTBEAT,
    CLOSE_PROTOCOL,
    CLOSE_UNAUTHORIZED,
    Auth,
    ChannelFilter,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    decode_cursor,
    frame,
    parse_client_message,
)
from ott_runtime.realtime.replay import Replayer
from ott_runtime.storage import TenantScope

log = logging.getLogger(__name__)
MAX_FRAME_CHARS = 64 * 1024
MAX_PROTOCOL_ERRORS = 20


@dataclass
class StreamSettings:
    heartbeat_seconds: float = 15.0
    missed_pongs_allowed: int = 2
    queue_size: int = 1000
    auth_timeout_seconds: float = 10.0
    # how long replayed rows are remembered to drop their late live copies (NOTIFY lag)
    replay_dedupe_seconds: float = 60.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StreamSettings:
        env = os.environ if environ is None else environ
        return cls(
            heartbeat_seconds=float(env.get("OTTC_STREAM_HEARTBEAT_SECONDS", "15")),
            queue_size=int(env.get("OTTC_STREAM_QUEUE_SIZE", "1000")),
        )


@dataclass(frozen=True)
class StreamEndpoint:
    """What every `/v1/stream` session of one runtime is served from."""

    hub: StreamHub
    replayer: Replayer
    settings: StreamSettings
    metrics: StreamMetrics | None = None

    def session(self, transport: StreamTransport) -> StreamSession:
        return StreamSession(transport, self.hub, self.replayer, self.settings, self.metrics)


class StreamTransport(Protocol):
    async def send_text(self, text: str) -> None: ...

    async def receive_text(self) -> str:
        """The next text frame; raises when the client has gone."""

    async def close(self, code: int, reason: str) -> None: ...


class StreamRefused(Exception):
    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code, self.reason = close_code, reason


# api key -> (scope, the tenant's default alert threshold); raises StreamRefused
Authenticator = Callable[[str], Awaitable[tuple[TenantScope, float]]]


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.clients = Gauge(
            "ottc_stream_clients", "Open /v1/stream connections", registry=registry
        )
        self.sent = Counter(
            "ottc_stream_messages_sent", "Messages sent", ["source"], registry=registry
        )
        self.dropped = Counter(
            "ottc_stream_messages_dropped",
            "Live messages a lagging client missed (then replayed from storage)",
            registry=registry,
        )
        self.closed = Counter(
            "ottc_stream_closed", "Connections closed by the server", ["reason"], registry=registry
        )


@dataclass
class _Replay:
    channel: str
    filter: ChannelFilter
    cursor: int | None
    answer: bool  # send `subscribed` first (False: a lag catch-up)


@dataclass
class _Unsubscribe:
    channel: str


@dataclass
class _Subscription:
    filter: ChannelFilter
    start: int  # live messages at or before this cursor were replayed or predate it
    last_sent: int
    replayed: set[int] = field(default_factory=set)
    replayed_until: float = 0.0


class _Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class StreamSession:
    def __init__(
        self,
        transport: StreamTransport,
        hub: StreamHub,
        replayer: Replayer,
        settings: StreamSettings,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.transport, self.hub, self.replayer = transport, hub, replayer
        self.settings, self.metrics = settings, metrics
        self.missed_pongs = 0
        # the per-message path stays cheap: the labelled counter is looked up once
        self._sent_live = metrics.sent.labels("live") if metrics else None
        self._subscriptions: dict[str, _Subscription] = {}
        self._protocol_errors = 0

    async def serve(self, api_key: str | None, authenticate: Authenticator) -> None:
        """Authenticates (header key, or a first ``auth`` frame) and runs until either side
        closes. Never raises for a client's behaviour."""
        try:
            if api_key is None:
                api_key = await self._auth_frame()
            scope, threshold = await authenticate(api_key)
        except StreamRefused as refused:
            await self._close(refused.close_code, refused.reason)
            return
        feed = self.hub.attach(scope.tenant_id, self.settings.queue_size)
        feed.default_threshold = threshold
        if self.metrics:
            self.metrics.clients.inc()
        try:
            await self._run(scope, feed)
        finally:
            self.hub.detach(feed)
            if self.metrics:
                self.metrics.clients.dec()

    async def _auth_frame(self) -> str:
        try:
            text = await asyncio.wait_for(
                self.transport.receive_text(), self.settings.auth_timeout_seconds
            )
            message = parse_client_message(text)
        except TimeoutError:
            raise StreamRefused(CLOSE_UNAUTHORIZED, "send {type: auth, apiKey} first") from None
        except ProtocolError as error:
            raise StreamRefused(CLOSE_UNAUTHORIZED, error.message[:120]) from None
        if not isinstance(message, Auth):
            raise StreamRefused(CLOSE_UNAUTHORIZED, "the first frame must be {type: auth}")
        return message.api_key

    async def _run(self, scope: TenantScope, feed: ClientFeed) -> None:
        await self.transport.send_text(
            frame(
                "welcome",
                tenant=scope.tenant_id,
                channels=list(CHANNELS),
                heartbeatSeconds=self.settings.heartbeat_seconds,
                queueSize=self.settings.queue_size,
            )
        )
        tasks = [
            asyncio.create_task(self._read(feed), name="stream-read"),
            asyncio.create_task(self._write(scope, feed), name="stream-write"),
            asyncio.create_task(self._heartbeat(feed), name="stream-heartbeat"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            error = task.exception() if not task.cancelled() else None
            if isinstance(error, _Closing):
                await self._close(error.code, error.reason)
            elif error is not None and not _is_disconnect(error):
                log.warning("stream session ended: %r", error)
                await self._close(1011, "internal error")

    async def _close(self, code: int, reason: str) -> None:
        if self.metrics:
            self.metrics.closed.labels(str(code)).inc()
        with contextlib.suppress(Exception):
            await self.transport.close(code, reason)

    # --- reader -----------------------------------------------------------------------
    async def _read(self, feed: ClientFeed) -> None:
        while True:
            text = await self.transport.receive_text()
            self.missed_pongs = 0  # any frame proves the client is alive
            try:
                if len(text) > MAX_FRAME_CHARS:
                    raise ProtocolError("frame-too-large", f"at most {MAX_FRAME_CHARS} characters")
                self._handle(parse_client_message(text), feed)
            except ProtocolError as error:
                self._protocol_errors += 1
                if self._protocol_errors > MAX_PROTOCOL_ERRORS:
                    raise _Closing(CLOSE_PROTOCOL, "too many invalid frames") from None
                feed.put_control(frame("error", code=error.code, message=error.message))

    def _handle(self, message: object, feed: ClientFeed) -> None:
        if isinstance(message, Subscribe):
            cursor = decode_cursor(message.cursor) if message.cursor else None
            # live messages are collected from now on; the writer replays up to them
            feed.filters[message.channel] = message.filter
            feed.put_control(_Replay(message.channel, message.filter, cursor, answer=True))
        elif isinstance(message, Unsubscribe):
            feed.filters.pop(message.channel, None)
            feed.put_control(_Unsubscribe(message.channel))
        elif isinstance(message, Auth):
            raise ProtocolError("already-authenticated", "this connection is authenticated")

    # --- heartbeat --------------------------------------------------------------------
    async def _heartbeat(self, feed: ClientFeed) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            if self.missed_pongs >= self.settings.missed_pongs_allowed:
                raise _Closing(
                    CLOSE_HEARTBEAT,
                    f"no pong to {self.missed_pongs} pings: connection presumed dead",
                )
            self.missed_pongs += 1
            feed.put_control(frame("ping", at=time.time()))

    # --- writer -----------------------------------------------------------------------
    async def _write(self, scope: TenantScope, feed: ClientFeed) -> None:
        while True:
            item = await feed.next()
            if item is None:  # lagging and drained: tell the client, then catch up
                dropped, feed.dropped, feed.lagging = feed.dropped, 0, False
                if self.metrics:
                    self.metrics.dropped.inc(dropped)
                await self.transport.send_text(
                    frame(
                        "lagged",
                        dropped=dropped,
                        resumeFrom={
                            c: encode_cursor(s.last_sent) for c, s in self._subscriptions.items()
                        },
                    )
                )
                for channel, subscription in list(self._subscriptions.items()):
                    await self._replay(
                        scope,
                        _Replay(channel, subscription.filter, subscription.last_sent, False),
                        feed,
                    )
            elif isinstance(item, Delivery):
                await self._deliver(item)
            elif isinstance(item, _Replay):
                await self._replay(scope, item, feed)
            elif isinstance(item, _Unsubscribe):
                self._subscriptions.pop(item.channel, None)
                await self.transport.send_text(frame("unsubscribed", channel=item.channel))
            else:
                await self.transport.send_text(str(item))

    async def _deliver(self, delivery: Delivery) -> None:
        subscription = self._subscriptions.get(delivery.channel)
        if subscription is None or delivery.seq <= subscription.start:
            return
        if subscription.replayed:
            if delivery.seq in subscription.replayed:
                return
            if time.monotonic() > subscription.replayed_until:
                subscription.replayed.clear()
        await self.transport.send_text(delivery.frame)
        if delivery.seq > subscription.last_sent:
            subscription.last_sent = delivery.seq
        if self._sent_live is not None:
            self._sent_live.inc()

    async def _replay(self, scope: TenantScope, request: _Replay, feed: ClientFeed) -> None:
        channel = request.channel
        if feed.filters.get(channel) is not request.filter and request.answer:
            return  # superseded by a later subscribe or an unsubscribe
        cursor = request.cursor
        if cursor is None:
            cursor = await self.replayer.latest(scope, channel)
        subscription = _Subscription(request.filter, start=cursor, last_sent=cursor)
        self._subscriptions[channel] = subscription
        if request.answer:
            await self.transport.send_text(
                frame("subscribed", channel=channel, cursor=encode_cursor(cursor))
            )
        count = 0
        async for page in self.replayer.after(
            scope, channel, cursor, request.filter, feed.default_threshold
        ):
            for data in page:
                seq = int(data["seq"])
                subscription.replayed.add(seq)
                await self.transport.send_text(Delivery(channel, seq, data).frame)
                subscription.last_sent = max(subscription.last_sent, seq)
                count += 1
        subscription.replayed_until = time.monotonic() + self.settings.replay_dedupe_seconds
        if self.metrics:
            self.metrics.sent.labels("replay").inc(count)
        await self.transport.send_text(frame("replayed", channel=channel, count=count))


def _is_disconnect(error: BaseException) -> bool:
    name = type(error).__name__
    return name in {"WebSocketDisconnect", "ConnectionClosed", "ConnectionClosedOK"} or isinstance(
        error, ConnectionError | EOFError
    )
