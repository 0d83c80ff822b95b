"""The one way a batch of events comes in: POST /v1/events and GraphQL's processEvents
both take it, so both count the same metrics (the pipeline enforces the body limit)."""

from __future__ import annotations

from ott_runtime.api.metrics import Metrics
from ott_runtime.ingest.errors import IngestError
from ott_runtime.ingest.limits import MAX_BODY_BYTES
from ott_runtime.ingest.pipeline import IngestResult
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope


def body_too_large() -> IngestError:
    """The refusal of a body past ``MAX_BODY_BYTES`` before it is all read."""
    return IngestError(
        413,
        "Request body too large",
        f"the limit is {MAX_BODY_BYTES} bytes (1 MiB)",
        type_slug="body-too-large",
    )


async def ingest_batch(
    service: RuntimeService, metrics: Metrics, scope: TenantScope, body: bytes
) -> IngestResult:
    """Ingests ``body`` (a JSON batch as POST /v1/events takes it) for ``scope``'s tenant
    and counts it; raises :class:`IngestError` (413 past ``MAX_BODY_BYTES``)."""
    result = await service.pipeline.ingest_body(scope, body)
    metrics.events.labels(scope.tenant_id).inc(len(result.accepted))
    metrics.duplicates.labels(scope.tenant_id).inc(len(result.duplicates))
    for violation in result.violations:
        metrics.violations.labels(scope.tenant_id, violation["severity"]).inc()
    metrics.observe_ingest(scope.tenant_id, result.timings_ms, result.violations)
    return result
