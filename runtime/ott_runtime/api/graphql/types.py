"""GraphQL object types. Resolvers that reach other rows go through the context's
DataLoaders, so a page of N items costs one statement per kind, not N."""

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from ott_runtime.domain.cursors import InvalidCursor, decode_cursor, encode_cursor
from ott_runtime.storage.tables import (
    EventRow,
    NotificationRow,
    RiskScoreRow,
    UsageRow,
    ViolationRow,
)

if TYPE_CHECKING:
    from ott_runtime.api.graphql.context import GraphContext

T = TypeVar("T")


@strawberry.enum(description="How serious a violation is, lowest first.")
class Severity(Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_BY_RANK = list(Severity)


def as_json(value: Any) -> JSON:
    return cast(JSON, value)


cursor_of = encode_cursor  # GraphQL's name for it


def seq_of(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except InvalidCursor:
        from ott_runtime.api.graphql.context import graph_error

        raise graph_error(
            "invalid cursor: use an endCursor or edge cursor", "BAD_USER_INPUT"
        ) from None


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="An item of a page, with its cursor.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A Relay cursor connection (oldest first; page with after/first).")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @staticmethod
    def build(items: list[tuple[int, T]], first: int, after: int | None) -> "Connection[T]":
        shown = items[:first]
        edges = [Edge(cursor=cursor_of(seq), node=node) for seq, node in shown]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(items) > first,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @staticmethod
    def build_backward(
        newest_first: list[tuple[int, T]], last: int, before: int | None
    ) -> "Connection[T]":
        """A page of the newest ``last`` items before ``before``, shown oldest first."""
        shown = list(reversed(newest_first[:last]))
        edges = [Edge(cursor=cursor_of(seq), node=node) for seq, node in shown]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=before is not None,
                has_previous_page=len(newest_first) > last,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


@strawberry.type(description="A model's risk score for one event.")
class RiskScore:
    id: strawberry.ID
    event_id: str
    score: float
    model: str
    explanation: JSON
    created_at: datetime

    @staticmethod
    def of(row: RiskScoreRow) -> "RiskScore":
        return RiskScore(
            id=strawberry.ID(str(row.id)),
            event_id=row.event_id,
            score=row.score,
            model=row.model,
            explanation=as_json(row.explanation),
            created_at=row.created_at,
        )


@strawberry.type(description="A stored event; protected fields are decrypted for the tenant.")
class Event:
    id: strawberry.ID
    type: str
    occurred_at: datetime
    received_at: datetime
    content_id: str | None
    max_severity: Severity | None
    key_version: int | None
    row: strawberry.Private[EventRow]

    @strawberry.field(description="The event document (protected fields decrypted).")
    async def payload(self, info: strawberry.Info["GraphContext", None]) -> JSON:
        principal = await info.context.principal()
        opened = principal.runtime.cipher.decrypt_document(self.row.payload, self.row.event_id)
        return as_json(opened.document)

    @strawberry.field(description="The risk score, if a model scored it.")
    async def risk(self, info: strawberry.Info["GraphContext", None]) -> RiskScore | None:
        row = await info.context.risk.load(self.row.event_id)
        return RiskScore.of(row) if row is not None else None

    @strawberry.field(description="Violations this event raised.")
    async def violations(self, info: strawberry.Info["GraphContext", None]) -> list["Violation"]:
        return [Violation.of(v) for v in await info.context.violations_of.load(self.row.event_id)]

    @staticmethod
    def of(row: EventRow) -> "Event":
        severity = SEVERITY_BY_RANK[row.max_severity] if row.max_severity is not None else None
        return Event(
            id=strawberry.ID(row.event_id),
            type=row.type,
            occurred_at=row.occurred_at,
            received_at=row.received_at,
            content_id=row.content_id,
            max_severity=severity,
            key_version=row.key_version,
            row=row,
        )


@strawberry.type(description="A rule that held for an event.")
class Violation:
    id: strawberry.ID
    event_id: str
    event_type: str
    regulation: str
    rule_id: str
    severity: Severity
    message: str
    reference: str
    content_id: str | None
    occurred_at: datetime
    created_at: datetime
    acknowledged: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None

    @strawberry.field(description="The event that raised it (None once retention removed it).")
    async def event(self, info: strawberry.Info["GraphContext", None]) -> Event | None:
        row = await info.context.events.load(self.event_id)
        return Event.of(row) if row is not None else None

    @staticmethod
    def of(row: ViolationRow) -> "Violation":
        return Violation(
            id=strawberry.ID(row.id),
            event_id=row.event_id,
            event_type=row.event_type,
            regulation=row.regulation,
            rule_id=row.rule_id,
            severity=Severity(row.severity),
            message=row.message,
            reference=row.reference,
            content_id=row.content_id,
            occurred_at=row.occurred_at,
            created_at=row.created_at,
            acknowledged=row.acknowledged_at is not None,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            note=row.ack_note,
        )


@strawberry.type(description="How a rule has fared in this process since it was compiled.")
class RuleHealth:
    evaluated: int
    hits: int = strawberry.field(description="Evaluations whose condition held.")
    not_applied: int = strawberry.field(
        description="Evaluations skipped: the event lacked a field the rule reads."
    )
    errors: int = strawberry.field(description="Evaluations that failed (see lastError).")
    last_error: str | None
    last_missing_key: str | None = strawberry.field(
        description="The key the last skipped evaluation found missing."
    )


@strawberry.type(description="A resolved rule (set rules with overrides, and custom rules).")
class Rule:
    id: str
    qualified_id: str
    regulation: str
    severity: Severity
    applies_to: list[str]
    when: str
    message: str
    reference: str
    description: str | None
    health: RuleHealth | None

    @staticmethod
    def of(regulation: str, document: dict[str, Any], health: RuleHealth | None = None) -> "Rule":
        """From a rule of ``RuleEvaluator.describe()`` (RegulationSet wire form)."""
        return Rule(
            id=document["id"],
            qualified_id=f"{regulation}/{document['id']}",
            regulation=regulation,
            severity=Severity(document["severity"]),
            applies_to=list(document["appliesTo"]),
            when=document["when"],
            message=document["message"],
            reference=document["reference"],
            description=document.get("description"),
            health=health,
        )


@strawberry.type(description="A regulation applied to the tenant, with its rules.")
class Regulation:
    name: str
    rules: list[Rule]


@strawberry.type(description="Usage counters for one hour.")
class Usage:
    hour: datetime
    events: int
    api_calls: int
    bytes_in: int
    rule_evaluations: int

    @staticmethod
    def of(row: UsageRow) -> "Usage":
        return Usage(
            hour=row.hour,
            events=row.events,
            api_calls=row.api_calls,
            bytes_in=row.bytes_in,
            rule_evaluations=row.rule_evaluations,
        )


@strawberry.type(description="Violations of one rule in a report period.")
class ReportRow:
    regulation: str
    rule_id: str
    severity: Severity
    reference: str | None
    count: int
    acknowledged: int
    top_content: JSON
    trend: JSON


@strawberry.type(description="A compliance report for a period.")
class Report:
    since: datetime
    until: datetime
    event_totals: JSON
    rows: list[ReportRow]


@strawberry.type(description="The authenticated tenant.")
class Tenant:
    id: strawberry.ID
    display_name: str
    plan: str
    isolation: str
    risk_threshold: float
    encrypted_fields: list[str]
    searchable_fields: list[str] = strawberry.field(
        description="Encrypted fields with a blind index: events can be found by their value."
    )
    admin: bool = strawberry.field(description="Whether the presented key has admin scope.")


@strawberry.type(description="Violations in one hour from one region (the event's geo.country).")
class HeatCell:
    hour: str
    region: str
    count: int


@strawberry.type(description="Content, region and rule linked by their violation count.")
class NetworkLink:
    content_id: str
    region: str
    rule: str
    count: int


@strawberry.type(description="Hourly events and violations: actual counts and the forecast.")
class ForecastPoint:
    hour: str
    events: int | None
    violations: int | None
    forecast: float | None
    lower: float | None
    upper: float | None


@strawberry.type(description="The result of processEvents: what was stored and raised.")
class IngestOutcome:
    accepted: int
    duplicates: list[str]
    violations: list[JSON]
    risk: list[JSON]


@strawberry.type(description="A webhook notification that could not be delivered.")
class DeadLetter:
    delivery_id: str
    kind: str
    url: str
    attempts: int
    last_error: str | None
    created_at: datetime
    payload: JSON

    @staticmethod
    def of(row: NotificationRow) -> "DeadLetter":
        return DeadLetter(
            delivery_id=row.delivery_id,
            kind=row.kind,
            url=row.url,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            payload=as_json(row.payload),
        )


@strawberry.type(description="What clearCache dropped.")
class CacheCleared:
    api_keys: int
