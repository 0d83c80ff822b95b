"""The composition root: the one place where a runtime process is assembled.

:class:`Runtime` takes a built :class:`~ott_runtime.service.RuntimeService` and builds what
serves it: the metrics registry, the rate limiter, the live stream hub with its replay and
(on PostgreSQL) the LISTEN/NOTIFY fan-out across replicas, the webhook notifications, and
the model scoring. Each part gets its collaborators here, explicitly; none of them finds
another by itself. :meth:`Runtime.app` includes every router and middleware.

One service is assembled once: several apps over one service (tests do that) come from one
:class:`Runtime`, so that a notification is enqueued once, not once per app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ott_runtime import __version__
from ott_runtime.api.admission import AdmissionControl, AdmissionSettings, install_admission
from ott_runtime.api.guards import RequestGuard
from ott_runtime.api.limits import HttpLimits
from ott_runtime.api.metrics import Metrics, ObserveRequests, RuleCounters
from ott_runtime.api.problems import install_problem_handlers
from ott_runtime.api.ratelimit import RateLimiter
from ott_runtime.api.routers import (
    analytics,
    events,
    health,
    models,
    reports,
    schemas,
    stream,
    tenant_info,
    violations,
    webhooks,
)
from ott_runtime.api.routers.dashboard import mount_dashboard
from ott_runtime.api.routers.graphql import graphql_router
from ott_runtime.ingest.pubsub import Message
from ott_runtime.notifications.delivery import DeliverySettings, WebhookSecrets
from ott_runtime.notifications.notifier import Notifications
from ott_runtime.realtime.fanout import PostgresFanout
from ott_runtime.realtime.hub import StreamHub
from ott_runtime.realtime.protocol import ChannelFilter
from ott_runtime.realtime.replay import Replayer
from ott_runtime.realtime.session import StreamEndpoint, StreamMetrics, StreamSettings
from ott_runtime.scoring import ModelScoring, install_model_scoring
from ott_runtime.service import RuntimeService
from ott_runtime.telemetry import instrument_app

DESCRIPTION = """\
Scores OTT (streaming) events against the tenant's regulations and serves the results.

Authenticate with the tenant's API key in `X-API-Key` (or `Authorization: Bearer`).
Every error is an RFC 9457 `application/problem+json` document. The API is versioned by
path: `/v1` stays backward compatible.
"""
REST_ROUTERS = (events, violations, reports, analytics, tenant_info, schemas, models, health)


class Runtime:
    """Everything one process serves beside its service, built once."""

    def __init__(
        self,
        service: RuntimeService,
        *,
        model_dir: Path | None = None,
        delivery: DeliverySettings | None = None,
        webhook_secrets: WebhookSecrets | None = None,
        stream_settings: StreamSettings | None = None,
        admission: AdmissionSettings | None = None,
    ) -> None:
        """``model_dir``: the model registry (None: no model scoring); ``delivery`` and
        ``webhook_secrets``: the notification worker's; ``admission``: how many ingest
        requests may be in flight (each: from the environment, or defaults, unless given)."""
        if service.assembled:
            raise RuntimeError(
                "this RuntimeService is assembled already: build every app over it from "
                "its one Runtime (Runtime.app), or each would enqueue every notification"
            )
        service.assembled = True
        self.service = service
        self.metrics = Metrics()
        self.rate_limiter = RateLimiter()
        registry = self.metrics.registry
        registry.register(RuleCounters(service.tenants))
        self.admission = AdmissionControl(admission or AdmissionSettings.from_env(), registry)

        self.hub = StreamHub(default_threshold=self._threshold)
        self.stream = StreamEndpoint(
            self.hub,
            Replayer(service.database),
            stream_settings or StreamSettings.from_env(),
            StreamMetrics(registry),
        )
        self.fanout = (
            None
            if service.database.is_sqlite
            else PostgresFanout(service.database.url, self.hub.dispatch, self.hub.mark_all_lagged)
        )
        service.broker.add_listener(self._on_publish)

        self.notifications = Notifications(
            service.database, service.tenants.names, registry, delivery, webhook_secrets
        )
        service.pipeline.transaction_hooks.append(self.notifications.enqueue)
        service.broker.add_listener(self.notifications.on_publish)
        service.tenant_listeners.append(self.notifications.on_tenants)

        self.model_scoring: ModelScoring | None = install_model_scoring(service, model_dir)
        self._users = 0  # apps whose lifespan started this runtime

    def _threshold(self, tenant: str) -> float:
        runtime = self.service.tenants.get(tenant)
        return runtime.spec.scoring.risk_threshold if runtime else 0.8

    def _on_publish(self, message: Message) -> None:
        self.hub.dispatch(message)
        if self.fanout is not None and not message.notified:
            self.fanout.forward(message)

    def follow(
        self, tenant: str, channel: str, channel_filter: ChannelFilter
    ) -> AsyncIterator[dict[str, Any]]:
        """One channel's live messages, for GraphQL subscriptions."""
        return self.hub.follow(tenant, channel, channel_filter, self.stream.settings.queue_size)

    async def start(self) -> None:
        """Starts the fan-out and the notification worker (the first app to start)."""
        self._users += 1
        if self._users > 1:
            return
        if self.fanout is not None:
            await self.fanout.start()
            self.service.pipeline.announcer = self.fanout.announce
        await self.notifications.start()

    async def stop(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        await self.notifications.stop()
        if self.fanout is not None:
            self.service.pipeline.announcer = None
            await self.fanout.stop()

    def app(
        self,
        *,
        manage_lifecycle: bool = True,
        limits: HttpLimits | None = None,
    ) -> FastAPI:
        """``manage_lifecycle``: start and stop the service with the app (off when the
        caller, e.g. a test running several apps over one service, does it). ``limits``:
        the body timeout (the server enforces the others; body sizes are per route)."""
        service = self.service

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            if manage_lifecycle:
                await service.start()
            await self.start()
            try:
                yield
            finally:
                await self.stop()
                if manage_lifecycle:
                    await service.stop()

        app = FastAPI(
            title="OTT Compliance runtime",
            version=__version__,
            description=DESCRIPTION,
            lifespan=lifespan,
        )
        # what the routers' dependencies read (ott_runtime.api.dependencies)
        app.state.service = service
        app.state.metrics = self.metrics
        app.state.rate_limiter = self.rate_limiter
        app.state.stream = self.stream
        app.state.live = self
        app.state.model_scoring = self.model_scoring
        install_problem_handlers(app)
        for module in REST_ROUTERS:
            app.include_router(module.router)
        app.include_router(stream.router)
        app.include_router(webhooks.router)
        mount_dashboard(app)
        app.include_router(graphql_router(), prefix="/v1/graphql")

        install_admission(app, service, self.admission)  # ingest requests in flight bounded
        # inside the metrics and tracing: refused requests are counted and traced too
        app.add_middleware(RequestGuard, service=service, limits=limits or HttpLimits())
        app.add_middleware(ObserveRequests, metrics=self.metrics)
        instrument_app(app)  # server spans, W3C traceparent honoured; a no-op without OTEL_*
        return app


def create_app(
    service: RuntimeService,
    *,
    model_dir: Path | None = None,
    manage_lifecycle: bool = True,
    admission: AdmissionSettings | None = None,
    limits: HttpLimits | None = None,
) -> FastAPI:
    """The app of a service with nothing else to share: ``Runtime(service).app(...)``."""
    return Runtime(service, model_dir=model_dir, admission=admission).app(
        manage_lifecycle=manage_lifecycle, limits=limits
    )
