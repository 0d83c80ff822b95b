"""/healthz (process alive), /readyz (database reachable, migrated), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ott_runtime.api.dependencies import AppMetrics, Service
from ott_runtime.api.problems import PROBLEM_SCHEMA, Problem
from ott_runtime.api.schemas import Health, Readiness, operation_id

router = APIRouter(tags=["health"], generate_unique_id_function=operation_id)


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and keys loaded",
    responses={503: PROBLEM_SCHEMA},
)
async def readyz(service: Service) -> Readiness:
    try:
        await service.database.ping()
        revision = await service.database.current_revision()
        keyrings = {t: service.keys.describe(t)["activeVersion"] for t in service.tenants.names}
    except Exception as error:
        raise Problem(503, "Not ready", f"{type(error).__name__}", "not-ready") from None
    if not service.started:
        raise Problem(503, "Not ready", "starting", "not-ready")
    return {"status": "ready", "schema": revision, "tenants": len(keyrings)}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request, metrics: AppMetrics) -> Response:
    """Open unless OTTC_METRICS_TOKEN is set (then: Authorization: Bearer <token>)."""
    if not metrics.exposure.admits(request.headers.get("authorization")):
        raise Problem(
            401,
            "Unauthorized",
            "send the metrics token (OTTC_METRICS_TOKEN) as Authorization: Bearer <token>",
            "unauthorized",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
