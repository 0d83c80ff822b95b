"""GET /v1/violations and POST /v1/violations/{id}/ack."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ott_runtime.api.dependencies import Scope, Service
from ott_runtime.api.pagination import decode_cursor, encode_cursor
from ott_runtime.api.problems import ERROR_RESPONSES, Problem
from ott_runtime.api.schemas import Violation, ViolationPage, operation_id
from ott_runtime.domain.instants import Instant
from ott_runtime.domain.regulation import Severity
from ott_runtime.ingest.pipeline import violation_json
from ott_runtime.storage import ViolationQuery

router = APIRouter(
    prefix="/v1/violations", tags=["violations"], generate_unique_id_function=operation_id
)


class Acknowledgement(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"by": "compliance-desk", "note": "ad schedule fixed"}},
    )

    by: str = Field(default="api", min_length=1, max_length=128, description="Who acknowledges it.")
    note: str | None = Field(default=None, max_length=1024, description="Why, or what was done.")


def _null_is_no_body(value: object) -> object:
    return {} if value is None else value


# An optional body documented as the object alone (a JSON null is still taken as no body):
# a body that may be null is one that generated clients cannot leave out.
OptionalAcknowledgement = Annotated[Acknowledgement, BeforeValidator(_null_is_no_body)]


@router.get("", summary="List violations", responses=ERROR_RESPONSES)
async def list_violations(
    scope: Scope,
    service: Service,
    since: Annotated[Instant | None, Query(description="Occurred at or after (RFC 3339).")] = None,
    until: Annotated[Instant | None, Query(description="Occurred before (RFC 3339).")] = None,
    severity: Annotated[Severity | None, Query(description="At least this severe.")] = None,
    regulation: Annotated[str | None, Query(max_length=63)] = None,
    rule: Annotated[str | None, Query(max_length=63)] = None,
    content: Annotated[str | None, Query(max_length=128)] = None,
    acknowledged: Annotated[bool | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ViolationPage:
    query = ViolationQuery(
        since=since, until=until, min_severity=severity.rank if severity else None,
        regulation=regulation, rule_id=rule, content_id=content, acknowledged=acknowledged,
        after_seq=decode_cursor(cursor), limit=limit,
    )  # fmt: skip
    async with service.store.read(scope) as data:
        rows = await data.violations.find(query)
    return {
        "items": [violation_json(r) for r in rows],
        "nextCursor": encode_cursor(rows[-1].seq) if len(rows) == limit else None,
    }


@router.post("/{violation_id}/ack", summary="Acknowledge a violation", responses=ERROR_RESPONSES)
async def acknowledge_violation(
    scope: Scope,
    service: Service,
    violation_id: Annotated[str, Path(max_length=36)],
    body: OptionalAcknowledgement = Acknowledgement(),  # noqa: B008 (FastAPI copies it)
) -> Violation:
    body = body or Acknowledgement()
    async with service.store.write(scope) as data:
        row = await data.violations.acknowledge(
            violation_id, by=body.by, note=body.note, at=datetime.now(UTC)
        )
    if row is None:
        raise Problem(404, "Not found", f"no violation {violation_id!r}", "not-found")
    return violation_json(row)
