"""Wires the live parts into a runtime app: the hub on the service's broker, the
PostgreSQL fan-out when the database is PostgreSQL, and the `/v1/stream` endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from ott_runtime.ingest.pubsub import Message
from ott_runtime.ingest.service import RuntimeService
from ott_runtime.notifications.wiring import Notifications
from ott_runtime.realtime.fanout import PostgresFanout
from ott_runtime.realtime.hub import Delivery, StreamHub
from ott_runtime.realtime.protocol import ChannelFilter
from ott_runtime.realtime.replay import Replayer
from ott_runtime.realtime.session import StreamMetrics, StreamSettings


class Realtime:
    """The live side of one app: started and stopped with it."""

    def __init__(
        self, service: RuntimeService, metrics: StreamMetrics, settings: StreamSettings
    ) -> None:
        self.service, self.metrics, self.settings = service, metrics, settings
        self.hub = StreamHub(default_threshold=self._threshold)
        self.replayer = Replayer(service.database)
        self.fanout: PostgresFanout | None = None
        if not service.database.is_sqlite:
            self.fanout = PostgresFanout(
                service.database.url, self.hub.dispatch, self.hub.mark_all_lagged
            )
        self._remove_listener = service.broker.add_listener(self._on_publish)
        self.notifications: Notifications | None = None

    def _threshold(self, tenant: str) -> float:
        runtime = self.service.tenants.get(tenant)
        return runtime.spec.scoring.risk_threshold if runtime else 0.8

    def _on_publish(self, message: Message) -> None:
        self.hub.dispatch(message)
        if self.fanout is not None and not message.notified:
            self.fanout.forward(message)

    async def follow(
        self, tenant: str, channel: str, channel_filter: ChannelFilter
    ) -> AsyncIterator[dict[str, Any]]:
        """Live messages of one channel for GraphQL subscriptions (no resume: a lagging
        subscriber skips what it missed)."""
        feed = self.hub.attach(tenant, self.settings.queue_size)
        feed.filters[channel] = channel_filter
        try:
            while True:
                item = await feed.next()
                if item is None:
                    feed.lagging, feed.dropped = False, 0
                elif isinstance(item, Delivery):
                    yield item.data
        finally:
            self.hub.detach(feed)

    async def start(self) -> None:
        if self.fanout is not None:
            await self.fanout.start()
            self.service.pipeline.announcer = self.fanout.announce
        if self.notifications is not None:
            await self.notifications.start()

    async def stop(self) -> None:
        if self.notifications is not None:
            await self.notifications.stop()
        if self.fanout is not None:
            self.service.pipeline.announcer = None
            await self.fanout.stop()
        self._remove_listener()


def install_realtime(app: FastAPI, service: RuntimeService) -> Realtime:
    from ott_runtime.api import stream
    from ott_runtime.dashboard.router import mount_dashboard
    from ott_runtime.graphql.router import graphql_router
    from ott_runtime.notifications.router import router as notifications_router

    realtime = Realtime(
        service, StreamMetrics(app.state.metrics.registry), StreamSettings.from_env()
    )
    realtime.notifications = Notifications.for_service(service, app.state.metrics.registry)
    app.state.realtime = realtime
    app.include_router(stream.router)
    app.include_router(notifications_router)
    mount_dashboard(app)
    app.include_router(graphql_router(), prefix="/v1/graphql")
    return realtime
