"""GET /v1/schemas/events[/{type}]: what the tenant's events may carry, as JSON Schemas that
include the fields the tenant and its RegulationSets declared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ott_runtime.api.dependencies import Tenant
from ott_runtime.api.problems import ERROR_RESPONSES, Problem
from ott_runtime.api.schemas import EventJsonSchema, EventTypes, operation_id
from ott_runtime.domain.event_schema import with_extensions
from ott_runtime.domain.events import EVENT_TYPES, SPEC_VERSION, event_json_schema

router = APIRouter(tags=["schemas"], generate_unique_id_function=operation_id)


@router.get(
    "/v1/schemas/events",
    summary="The event types, and the extension fields declared for the tenant",
    response_model=EventTypes,
    responses=ERROR_RESPONSES,
)
async def event_types(tenant: Tenant) -> dict[str, Any]:
    return {
        "specVersion": SPEC_VERSION,
        "types": list(EVENT_TYPES),
        "extensions": [
            e.model_dump(mode="json", by_alias=True, exclude_none=True)
            for e in tenant.extensions.values()
        ],
    }


@router.get(
    "/v1/schemas/events/{event_type}",
    summary="The JSON Schema of one event type, with the tenant's extension fields",
    response_model=EventJsonSchema,
    responses=ERROR_RESPONSES,
)
async def event_schema(event_type: str, tenant: Tenant) -> dict[str, Any]:
    if event_type not in EVENT_TYPES:
        raise Problem(
            404, "Not found",
            f"no event type {event_type!r}; known: {', '.join(EVENT_TYPES)}", "not-found",
        )  # fmt: skip
    return with_extensions(event_json_schema(event_type), event_type, tenant.extensions)
