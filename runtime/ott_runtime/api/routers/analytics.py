"""GET /v1/analytics: events, violations and risk per time bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ott_runtime.api.dependencies import Scope, Service
from ott_runtime.api.problems import ERROR_RESPONSES, Problem
from ott_runtime.api.schemas import Analytics, operation_id
from ott_runtime.domain.instants import Instant, shift
from ott_runtime.storage.reports import Bucket

router = APIRouter(
    prefix="/v1/analytics", tags=["analytics"], generate_unique_id_function=operation_id
)
MAX_BUCKETS = 24 * 92


# the points come from storage as plain JSON: the response model checks and documents them
@router.get(
    "", summary="Time-bucketed analytics", response_model=Analytics, responses=ERROR_RESPONSES
)
async def analytics(
    scope: Scope,
    service: Service,
    since: Annotated[Instant | None, Query(description="Default: 24 h before until.")] = None,
    until: Annotated[Instant | None, Query(description="Default: now.")] = None,
    bucket: Annotated[Bucket, Query()] = Bucket.HOUR,
) -> dict[str, Any]:
    until = until or datetime.now(UTC)
    since = since or shift(until, -timedelta(hours=24))
    if since >= until:
        raise Problem(
            400, "Empty range", "since must be before until", "invalid-time",
            errors=[{"index": None, "field": "query.since", "message": "must be before until"}],
        )  # fmt: skip
    size = timedelta(hours=1) if bucket is Bucket.HOUR else timedelta(days=1)
    if (until - since) / size > MAX_BUCKETS:
        raise Problem(400, "Range too long", f"at most {MAX_BUCKETS} buckets", "invalid-time")
    async with service.store.read(scope) as data:
        points = await data.reports.timeline(since, until, bucket)
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "bucket": bucket.value,
        "points": points,
    }
