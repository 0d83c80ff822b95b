"""POST /v1/events (ingest a batch) and GET /v1/events (filtered, paginated)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from ott_runtime.api.batches import body_too_large, ingest_batch
from ott_runtime.api.dependencies import AppMetrics, Scope, Service, Tenant
from ott_runtime.api.pagination import decode_cursor, encode_cursor
from ott_runtime.api.problems import ERROR_RESPONSES, PROBLEM_SCHEMA, Problem
from ott_runtime.api.schemas import EventPage, IngestAnswer, StoredEvent, operation_id
from ott_runtime.domain.events import EVENT_TYPES
from ott_runtime.domain.instants import Instant
from ott_runtime.domain.regulation import Severity
from ott_runtime.ingest.limits import MAX_BODY_BYTES, MAX_EVENTS_PER_BATCH
from ott_runtime.storage import EventQuery

router = APIRouter(prefix="/v1/events", tags=["events"], generate_unique_id_function=operation_id)

EXAMPLE_BATCH = {
    "events": [
        {
            "specVersion": "1",
            "id": "evt-0001",
            "type": "ad.impression",
            "time": "2026-11-26T20:15:00Z",
            "viewer": {"id": "viewer-42", "isKidsProfile": True, "age": 9},
            "content": {"id": "show-7", "channelId": "kids-1"},
            "ad": {"id": "ad-9", "durationSeconds": 30, "targeted": True},
        }
    ]
}


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise body_too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:  # chunked uploads carry no length: stop reading early
            raise body_too_large()
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    summary="Ingest a batch of events",
    description=(
        f"Up to {MAX_EVENTS_PER_BATCH} events and {MAX_BODY_BYTES} bytes per request. "
        "Idempotent by event id: a retried batch stores nothing twice (ids already stored "
        "are listed in `duplicates`). A 200 answer means every accepted event is committed. "
        "One invalid event rejects the whole batch (422, each problem names the event "
        "index and the field)."
    ),
    responses={
        **ERROR_RESPONSES,
        415: PROBLEM_SCHEMA,  # a body that is not JSON (api.guards)
        503: PROBLEM_SCHEMA,  # too many batches in flight (api.admission; 429 per tenant)
        # declared, not response_model: the answer is serialised below without validation
        200: {"model": IngestAnswer, "description": "Every accepted event is committed."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {
                                "type": "array",
                                "items": {"type": "object"},
                                "maxItems": MAX_EVENTS_PER_BATCH,
                            },
                            {
                                "type": "object",
                                "required": ["events"],
                                "properties": {
                                    "events": {
                                        "type": "array",
                                        "items": {"type": "object"},
                                        "maxItems": MAX_EVENTS_PER_BATCH,
                                    }
                                },
                            },
                        ]
                    },
                    "example": EXAMPLE_BATCH,
                }
            },
        }
    },
)
async def ingest_events(
    request: Request, scope: Scope, service: Service, metrics: AppMetrics
) -> Response:
    body = await _read_limited(request)
    result = await ingest_batch(service, metrics, scope, body)
    # serialised here: the answer is plain JSON built by the pipeline, no model to validate
    return Response(orjson.dumps(result.to_json()), media_type="application/json")


@router.get("", summary="List stored events", responses=ERROR_RESPONSES)
async def list_events(
    scope: Scope,
    service: Service,
    tenant: Tenant,
    metrics: AppMetrics,
    type: Annotated[list[str] | None, Query(description="Event types (repeatable).")] = None,
    since: Annotated[Instant | None, Query(description="Occurred at or after (RFC 3339).")] = None,
    until: Annotated[Instant | None, Query(description="Occurred before (RFC 3339).")] = None,
    content: Annotated[str | None, Query(max_length=128, description="Content id.")] = None,
    severity: Annotated[
        Severity | None, Query(description="Events with a violation at least this severe.")
    ] = None,
    field: Annotated[
        str | None, Query(max_length=253, description="A searchable encrypted field path to match…")
    ] = None,
    value: Annotated[
        str | None, Query(max_length=1024, description="…against this value (blind index).")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="nextCursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventPage:
    unknown = [t for t in type or () if t not in EVENT_TYPES]
    if unknown:
        raise Problem(
            400, "Unknown event type", f"unknown: {', '.join(unknown)}", "unknown-event-type"
        )
    blind = None
    if (field is None) != (value is None):
        raise Problem(400, "Incomplete filter", "field and value go together", "invalid-filter")
    if field is not None:
        if field not in tenant.searchable_fields:
            raise Problem(
                400,
                "Not a searchable field",
                f"{field!r} is not in spec.encryption.searchable (encrypted fields with a "
                "blind index)",
                "invalid-filter",
            )
        blind = (field, tenant.cipher.blind_index(field, value))
    query = EventQuery(
        types=type or (), since=since, until=until, content_id=content,
        min_severity=severity.rank if severity else None, blind_index=blind,
        after_seq=decode_cursor(cursor), limit=limit,
    )  # fmt: skip
    async with service.store.read(scope) as data:
        rows = await data.events.find(query)
        risks = await data.risk.for_events([r.event_id for r in rows])
    cipher = tenant.cipher
    items: list[StoredEvent] = []
    for row in rows:
        opened = cipher.decrypt_document(row.payload, row.event_id)
        if opened.errors:
            metrics.integrity_failures.labels(scope.tenant_id).inc(len(opened.errors))
        risk = risks.get(row.event_id)
        items.append(
            {
                "id": row.event_id,
                "type": row.type,
                "occurredAt": row.occurred_at.isoformat(),
                "receivedAt": row.received_at.isoformat(),
                "contentId": row.content_id,
                "maxSeverity": list(Severity)[row.max_severity].value
                if row.max_severity is not None
                else None,
                "risk": {"score": risk.score, "model": risk.model} if risk else None,
                "keyVersion": row.key_version,
                "event": opened.document,
                "integrityErrors": [
                    {"field": e.field_path, "reason": e.reason} for e in opened.errors
                ],
            }
        )
    next_cursor = encode_cursor(rows[-1].seq) if len(rows) == limit else None
    return {"items": items, "nextCursor": next_cursor}
