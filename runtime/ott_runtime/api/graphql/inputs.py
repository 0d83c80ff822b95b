"""Inputs, shared helpers and small result types of the GraphQL schema."""

from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import strawberry

from ott_runtime.api.graphql.context import GraphContext, graph_error
from ott_runtime.api.graphql.limits import MAX_FIRST
from ott_runtime.api.graphql.types import (
    ForecastPoint,
    Severity,
    Violation,
)
from ott_runtime.domain.instants import shift
from ott_runtime.storage.tables import ViolationRow

Info: TypeAlias = strawberry.Info[GraphContext, None]
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}


@strawberry.input(description="Event filters; all given ones must hold.")
class EventFilter:
    types: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    content_id: str | None = None
    min_severity: Severity | None = None


@strawberry.input(description="Violation filters; all given ones must hold.")
class ViolationFilter:
    since: datetime | None = None
    until: datetime | None = None
    min_severity: Severity | None = None
    regulation: str | None = None
    rule_id: str | None = None
    content_id: str | None = None
    acknowledged: bool | None = None


@strawberry.type(description="Forecast against actuals, labelled with its method.")
class Forecast:
    method: str
    points: list[ForecastPoint]


def page_size(first: int) -> int:
    if not 1 <= first <= MAX_FIRST:
        raise graph_error(f"first must be between 1 and {MAX_FIRST}", "BAD_USER_INPUT")
    return first


def period(
    since: datetime | None, until: datetime | None, days: int = 1
) -> tuple[datetime, datetime]:
    # both are aware and in range: the DateTime scalar checked them (graphql.scalars)
    until = until or datetime.now(UTC)
    since = since or shift(until, -timedelta(days=days))
    if since >= until:
        raise graph_error("since must be before until", "BAD_USER_INPUT")
    return since, until


def violation_from_message(data: dict[str, Any]) -> Violation:
    row = ViolationRow(
        id=data["id"],
        event_id=data["eventId"],
        event_type=data["eventType"],
        regulation=data["regulation"],
        rule_id=data["ruleId"],
        severity=data["severity"],
        message=data["message"],
        reference=data["reference"],
        content_id=data["contentId"],
        occurred_at=datetime.fromisoformat(data["occurredAt"]),
        created_at=datetime.fromisoformat(data["createdAt"]),
        acknowledged_at=None,
        acknowledged_by=None,
        ack_note=None,
    )
    return Violation.of(row)
