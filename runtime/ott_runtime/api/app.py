"""The REST app factory: one router per resource, tenant and auth from dependencies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ott_runtime import __version__
from ott_runtime.api.admission import AdmissionSettings, install_admission
from ott_runtime.api.guards import RequestGuard
from ott_runtime.api.limits import HttpLimits
from ott_runtime.api.metrics import Metrics
from ott_runtime.api.problems import install_problem_handlers
from ott_runtime.api.ratelimit import RateLimiter
from ott_runtime.api.routers import analytics, events, health, reports, tenant_info, violations
from ott_runtime.ingest.service import RuntimeService
from ott_runtime.realtime.install import install_realtime
from ott_runtime.scoring import api as models_api
from ott_runtime.telemetry import instrument_app

DESCRIPTION = """\
Scores OTT (streaming) events against the tenant's regulations and serves the results.

Authenticate with the tenant's API key in `X-API-Key` (or `Authorization: Bearer`).
Every error is an RFC 9457 `application/problem+json` document. The API is versioned by
path: `/v1` stays backward compatible.
"""


class ObserveRequests:
    """Counts and times every request by route template (pure ASGI: no per-request task
    or body buffering, unlike ``@app.middleware("http")``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def create_app(
    service: RuntimeService,
    *,
    manage_lifecycle: bool = True,
    admission: AdmissionSettings | None = None,
    limits: HttpLimits | None = None,
) -> FastAPI:
    """``manage_lifecycle``: start and stop the service with the app (off when the caller,
    e.g. a test running several apps over one service, does it). ``limits``: the body
    timeout (the server enforces the others; body sizes are per route)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await service.start()
        await realtime.start()
        try:
            yield
        finally:
            await realtime.stop()
            if manage_lifecycle:
                await service.stop()

    app = FastAPI(
        title="OTT Compliance runtime",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics = Metrics()
    app.state.rate_limiter = RateLimiter()
    install_problem_handlers(app)
    for module in (events, violations, reports, analytics, tenant_info, models_api, health):
        app.include_router(module.router)
    realtime = install_realtime(app, service)  # /v1/stream, /v1/graphql, /dashboard

    install_admission(app, service, admission)  # ingest in flight bounded (env unless given)
    # inside the metrics and tracing: refused requests are counted and traced too
    app.add_middleware(RequestGuard, service=service, limits=limits or HttpLimits())
    app.add_middleware(ObserveRequests, metrics=metrics)
    instrument_app(app)  # server spans, W3C traceparent honoured; a no-op without OTEL_*
    return app
