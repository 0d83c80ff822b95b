"""The GraphQL schema at /v1/graphql: queries, mutations and subscriptions.

Everything is scoped to the tenant of the presented API key (see ``context``); reads go
through tenant-scoped repositories only. ``schema.graphql`` at the repo root is this
schema printed; ``ottc graphql-schema`` regenerates it and a unit test compares them.
"""

from collections import defaultdict
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeAlias

import orjson
import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from ott_runtime.dashboard.forecast import METHOD, holt
from ott_runtime.graphql.context import GraphContext, graph_error
from ott_runtime.graphql.limits import DEFAULT_FIRST, MAX_FIRST, limit_extensions
from ott_runtime.graphql.rows import GraphRows
from ott_runtime.graphql.types import (
    CacheCleared,
    Connection,
    DeadLetter,
    Event,
    ForecastPoint,
    HeatCell,
    IngestOutcome,
    NetworkLink,
    Regulation,
    Report,
    ReportRow,
    RiskScore,
    Rule,
    Severity,
    Tenant,
    Usage,
    Violation,
    as_json,
    seq_of,
)
from ott_runtime.ingest.errors import IngestError
from ott_runtime.notifications.outbox import OutboxRepository
from ott_runtime.realtime.protocol import ChannelFilter
from ott_runtime.storage import EventQuery, ViolationQuery
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


def _page(first: int) -> int:
    if not 1 <= first <= MAX_FIRST:
        raise graph_error(f"first must be between 1 and {MAX_FIRST}", "BAD_USER_INPUT")
    return first


def _period(
    since: datetime | None, until: datetime | None, days: int = 1
) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=days)
    for moment in (since, until):
        if moment.tzinfo is None:
            raise graph_error("times need an offset, e.g. 2026-11-26T10:00:00Z", "BAD_USER_INPUT")
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


@strawberry.type
class Query:
    @strawberry.field(description="The tenant of the presented API key.")
    async def tenant(self, info: Info) -> Tenant:
        principal = await info.context.principal()
        spec = principal.runtime.spec
        return Tenant(
            id=strawberry.ID(principal.scope.tenant_id),
            display_name=spec.display_name,
            plan=spec.plan.value,
            isolation=spec.isolation.value,
            risk_threshold=spec.scoring.risk_threshold,
            encrypted_fields=principal.runtime.encrypted_fields,
            admin=principal.admin,
        )

    @strawberry.field(description="Stored events, oldest first.")
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
    ) -> Connection[Event]:
        principal, first = await info.context.principal(), _page(first)
        given = filter or EventFilter()
        after_seq = seq_of(after)
        query = EventQuery(
            types=tuple(given.types or ()),
            since=given.since,
            until=given.until,
            content_id=given.content_id,
            min_severity=SEVERITY_RANK[given.min_severity] if given.min_severity else None,
            after_seq=after_seq,
            limit=first + 1,
        )
        async with info.context.service.store.read(principal.scope) as data:
            rows = await data.events.find(query)
        return Connection.build([(r.seq, Event.of(r)) for r in rows], first, after_seq)

    @strawberry.field(description="One event by id.")
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        await info.context.principal()
        row = await info.context.events.load(str(id))
        return Event.of(row) if row is not None else None

    @strawberry.field(
        description="Violations, oldest first; page forward with first/after, or take the "
        "newest with last (and before)."
    )
    async def violations(
        self,
        info: Info,
        filter: ViolationFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Violation]:
        principal = await info.context.principal()
        given = filter or ViolationFilter()
        query = ViolationQuery(
            since=given.since,
            until=given.until,
            min_severity=SEVERITY_RANK[given.min_severity] if given.min_severity else None,
            regulation=given.regulation,
            rule_id=given.rule_id,
            content_id=given.content_id,
            acknowledged=given.acknowledged,
        )
        if last is not None or before is not None:
            if first is not None or after is not None:
                raise graph_error("use first/after or last/before, not both", "BAD_USER_INPUT")
            size, before_seq = _page(last or DEFAULT_FIRST), seq_of(before)
            async with info.context.service.database.session() as session:
                rows = await GraphRows(session, principal.scope).violations_before(
                    query, before_seq, size + 1
                )
            return Connection.build_backward(
                [(r.seq, Violation.of(r)) for r in rows], size, before_seq
            )
        size, after_seq = _page(first or DEFAULT_FIRST), seq_of(after)
        async with info.context.service.store.read(principal.scope) as data:
            rows = await data.violations.find(replace(query, after_seq=after_seq, limit=size + 1))
        return Connection.build([(r.seq, Violation.of(r)) for r in rows], size, after_seq)

    @strawberry.field(description="One violation by id.")
    async def violation(self, info: Info, id: strawberry.ID) -> Violation | None:
        principal = await info.context.principal()
        async with info.context.service.store.read(principal.scope) as data:
            row = await data.violations.get(str(id))
        return Violation.of(row) if row is not None else None

    @strawberry.field(description="Risk scores at or above min_score, oldest first.")
    async def risk_scores(
        self,
        info: Info,
        min_score: float = 0.0,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
    ) -> Connection[RiskScore]:
        principal, first = await info.context.principal(), _page(first)
        after_seq = seq_of(after)
        async with info.context.service.database.session() as session:
            rows = await GraphRows(session, principal.scope).risk_after(
                after_seq, min_score, first + 1
            )
        return Connection.build([(r.id, RiskScore.of(r)) for r in rows], first, after_seq)

    @strawberry.field(description="Webhook notifications that could not be delivered.")
    async def dead_letters(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[DeadLetter]:
        principal, first = await info.context.principal(), _page(first)
        after_seq = seq_of(after)
        async with info.context.service.store.read(principal.scope) as data:
            rows = await data.repository(OutboxRepository).dead_letters(after_seq, first + 1)
        return Connection.build([(r.id, DeadLetter.of(r)) for r in rows], first, after_seq)

    @strawberry.field(description="The regulations applied to the tenant, with their rules.")
    async def regulations(self, info: Info) -> list[Regulation]:
        principal = await info.context.principal()
        grouped: dict[str, list[Rule]] = defaultdict(list)
        for document in principal.runtime.rules.describe():
            grouped[document["regulation"]].append(Rule.of(document))
        return [Regulation(name=name, rules=rules) for name, rules in sorted(grouped.items())]

    @strawberry.field(
        description="Violations per rule and event totals for a period (default: a day)."
    )
    async def report(
        self, info: Info, since: datetime | None = None, until: datetime | None = None
    ) -> Report:
        principal = await info.context.principal()
        since, until = _period(since, until)
        async with info.context.service.store.read(principal.scope) as data:
            summary = await data.reports.violation_summary(since, until)
            totals = await data.reports.event_totals(since, until)
        rows = [
            ReportRow(
                regulation=r["regulation"],
                rule_id=r["ruleId"],
                severity=Severity(r["severity"]),
                reference=r["reference"],
                count=r["count"],
                acknowledged=r["acknowledged"],
                top_content=r["topContent"],
                trend=r["trend"],
            )
            for r in summary
        ]
        return Report(since=since, until=until, event_totals=as_json(totals), rows=rows)

    @strawberry.field(description="Hourly usage counters in a period (default: a day).")
    async def usage(
        self, info: Info, since: datetime | None = None, until: datetime | None = None
    ) -> list[Usage]:
        principal = await info.context.principal()
        since, until = _period(since, until)
        await info.context.service.meter.flush()
        async with info.context.service.store.read(principal.scope) as data:
            return [Usage.of(row) for row in await data.usage.hours(since, until)]

    @strawberry.field(description="Violations by hour and region (default: the last day).")
    async def violation_heatmap(
        self, info: Info, since: datetime | None = None, until: datetime | None = None
    ) -> list[HeatCell]:
        principal = await info.context.principal()
        since, until = _period(since, until)
        async with info.context.service.database.session() as session:
            cells = await GraphRows(session, principal.scope).heatmap(since, until)
        return [HeatCell(hour=h, region=r, count=n) for h, r, n in cells]

    @strawberry.field(description="The most frequent content-region-rule links of violations.")
    async def violation_network(
        self,
        info: Info,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[NetworkLink]:
        principal = await info.context.principal()
        since, until = _period(since, until)
        if not 1 <= limit <= 2000:
            raise graph_error("limit must be between 1 and 2000", "BAD_USER_INPUT")
        async with info.context.service.database.session() as session:
            links = await GraphRows(session, principal.scope).network(since, until, limit)
        return [NetworkLink(content_id=c, region=r, rule=u, count=n) for c, r, u, n in links]

    @strawberry.field(description="Hourly violations: actuals and a labelled forecast with bands.")
    async def forecast(
        self,
        info: Info,
        history_hours: int = 48,
        horizon_hours: int = 12,
        include_events: Annotated[
            bool,
            strawberry.argument(description="Also count events per hour (scans every event)."),
        ] = False,
    ) -> Forecast:
        principal = await info.context.principal()
        if not (2 <= history_hours <= 24 * 31 and 1 <= horizon_hours <= 168):
            raise graph_error("historyHours 2..744 and horizonHours 1..168", "BAD_USER_INPUT")
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        since = now - timedelta(hours=history_hours)
        async with info.context.service.database.session() as session:
            counts = {
                h: (e, v)
                for h, e, v in await GraphRows(session, principal.scope).hourly_counts(
                    since, now, include_events=include_events
                )
            }
        hours = [
            (since + timedelta(hours=i)).strftime("%Y-%m-%dT%H:00:00Z")
            for i in range(history_hours)
        ]
        actual = [counts.get(h, (0, 0)) for h in hours]
        fitted = holt([float(v) for _, v in actual], horizon_hours)
        points = [
            ForecastPoint(
                hour=h,
                events=e if include_events else None,
                violations=v,
                forecast=f,
                lower=None,
                upper=None,
            )
            for h, (e, v), f in zip(hours, actual, fitted.fitted, strict=True)
        ]
        for step in range(horizon_hours):
            hour = (now + timedelta(hours=step)).strftime("%Y-%m-%dT%H:00:00Z")
            points.append(
                ForecastPoint(
                    hour=hour,
                    events=None,
                    violations=None,
                    forecast=fitted.forecast[step],
                    lower=fitted.lower[step],
                    upper=fitted.upper[step],
                )
            )
        return Forecast(method=METHOD, points=points)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Ingests a batch of events (the same pipeline as POST /v1/events)."
    )
    async def process_events(self, info: Info, events: list[JSON]) -> IngestOutcome:
        principal = await info.context.principal()
        try:
            result = await info.context.service.pipeline.ingest_body(
                principal.scope, orjson.dumps({"events": events})
            )
        except IngestError as error:
            problems = "; ".join(
                f"event {p.index}: {p.field}: {p.message}" for p in error.problems[:10]
            )
            raise GraphQLError(
                f"{error.title}: {error.detail}" + (f" ({problems})" if problems else ""),
                extensions={
                    "code": "INVALID_EVENTS",
                    "status": error.status,
                    "problems": [p.to_json() for p in error.problems],
                },
            ) from None
        return IngestOutcome(
            accepted=len(result.accepted),
            duplicates=result.duplicates,
            violations=[as_json(v) for v in result.violations],
            risk=[as_json(r) for r in result.risk],
        )

    @strawberry.mutation(description="Marks a violation acknowledged (the first one is kept).")
    async def acknowledge_violation(
        self, info: Info, id: strawberry.ID, by: str = "graphql", note: str | None = None
    ) -> Violation:
        principal = await info.context.principal()
        if not 1 <= len(by) <= 128 or (note is not None and len(note) > 1024):
            raise graph_error("by: 1..128 characters, note: at most 1024", "BAD_USER_INPUT")
        async with info.context.service.store.write(principal.scope) as data:
            row = await data.violations.acknowledge(str(id), by=by, note=note, at=datetime.now(UTC))
        if row is None:
            raise graph_error(f"no violation {id!r}", "NOT_FOUND")
        return Violation.of(row)

    @strawberry.mutation(description="Sends a dead letter again (same delivery id).")
    async def retry_dead_letter(self, info: Info, delivery_id: str) -> bool:
        principal = await info.context.principal()
        async with info.context.service.store.write(principal.scope) as data:
            requeued = await data.repository(OutboxRepository).requeue(
                delivery_id, datetime.now(UTC)
            )
        if not requeued:
            raise graph_error(f"no dead letter {delivery_id!r}", "NOT_FOUND")
        return True

    @strawberry.mutation(
        description="Admin: drops this process's API-key cache (revocations apply at once)."
    )
    async def clear_cache(self, info: Info) -> CacheCleared:
        await info.context.admin()
        return CacheCleared(api_keys=info.context.service.store.directory.clear_cache())


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Violations as they are stored, filtered.")
    async def violations(
        self, info: Info, filter: ViolationFilter | None = None
    ) -> AsyncGenerator[Violation, None]:
        principal = await info.context.principal()
        given = filter or ViolationFilter()
        channel_filter = ChannelFilter(
            min_severity=given.min_severity.value if given.min_severity else None,
            regulation=given.regulation,
            rule_id=given.rule_id,
            content_id=given.content_id,
        )
        async for data in info.context.realtime.follow(
            principal.scope.tenant_id, "violations", channel_filter
        ):
            yield violation_from_message(data)

    @strawberry.subscription(
        description="Risk scores at or above the threshold (default: the tenant's)."
    )
    async def risk_alerts(
        self, info: Info, threshold: float | None = None
    ) -> AsyncGenerator[RiskScore, None]:
        principal = await info.context.principal()
        if threshold is not None and not 0 <= threshold <= 1:
            raise graph_error("threshold must be between 0 and 1", "BAD_USER_INPUT")
        channel_filter = ChannelFilter(threshold=threshold)
        async for data in info.context.realtime.follow(
            principal.scope.tenant_id, "alerts", channel_filter
        ):
            yield RiskScore(
                id=strawberry.ID(str(data["seq"])),
                event_id=data["eventId"],
                score=data["score"],
                model=data["model"],
                explanation=data["explanation"],
                created_at=datetime.now(UTC),
            )


schema = strawberry.Schema(
    query=Query, mutation=Mutation, subscription=Subscription, extensions=limit_extensions()
)
