"""GET /v1/notifications/dead-letters and POST .../{deliveryId}/retry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ott_runtime.api.dependencies import Scope, Service
from ott_runtime.api.pagination import decode_cursor, encode_cursor
from ott_runtime.api.problems import ERROR_RESPONSES, Problem
from ott_runtime.api.schemas import DeadLetterPage, Requeued, operation_id
from ott_runtime.notifications.outbox import OutboxRepository, dead_letter_json

router = APIRouter(
    prefix="/v1/notifications", tags=["notifications"], generate_unique_id_function=operation_id
)


@router.get(
    "/dead-letters",
    summary="Notifications that could not be delivered",
    description="Webhook notifications out of attempts or refused by the receiver, oldest "
    "first, with the last error. Retry one with POST .../{deliveryId}/retry.",
    response_model=DeadLetterPage,  # dead_letter_json is plain JSON: checked and documented
    responses=ERROR_RESPONSES,
)
async def dead_letters(
    scope: Scope,
    service: Service,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    async with service.store.read(scope) as data:
        rows = await data.repository(OutboxRepository).dead_letters(decode_cursor(cursor), limit)
    return {
        "items": [dead_letter_json(row) for row in rows],
        "nextCursor": encode_cursor(rows[-1].id) if len(rows) == limit else None,
    }


@router.post(
    "/dead-letters/{delivery_id}/retry",
    summary="Send a dead letter again (same delivery id)",
    status_code=202,
    responses=ERROR_RESPONSES,
)
async def retry_dead_letter(
    scope: Scope, service: Service, delivery_id: Annotated[str, Path(max_length=36)]
) -> Requeued:
    async with service.store.write(scope) as data:
        requeued = await data.repository(OutboxRepository).requeue(delivery_id, datetime.now(UTC))
    if not requeued:
        raise Problem(404, "Not found", f"no dead letter {delivery_id!r}", "not-found")
    return {"deliveryId": delivery_id, "status": "pending"}
