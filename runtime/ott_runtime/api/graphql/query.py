"""The GraphQL ``Query`` type: the tenant's events, violations, risk, reports, usage and
the dashboard's aggregations (heatmap, network, forecast), read through tenant-scoped
repositories only."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

import strawberry

from ott_runtime.api.graphql.context import graph_error
from ott_runtime.api.graphql.inputs import (
    SEVERITY_RANK,
    EventFilter,
    Forecast,
    Info,
    ViolationFilter,
    page_size,
    period,
)
from ott_runtime.api.graphql.limits import DEFAULT_FIRST
from ott_runtime.api.graphql.types import (
    Connection,
    DeadLetter,
    Event,
    ForecastPoint,
    HeatCell,
    NetworkLink,
    Regulation,
    Report,
    ReportRow,
    RiskScore,
    Rule,
    RuleHealth,
    Severity,
    Tenant,
    Usage,
    Violation,
    as_json,
    seq_of,
)
from ott_runtime.domain.forecast import METHOD, holt
from ott_runtime.notifications.outbox import OutboxRepository
from ott_runtime.storage import EventQuery, ViolationQuery
from ott_runtime.storage.aggregations import GraphRows


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
            searchable_fields=principal.runtime.searchable_fields,
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
        principal, first = await info.context.principal(), page_size(first)
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
            size, before_seq = page_size(last or DEFAULT_FIRST), seq_of(before)
            async with info.context.service.database.session() as session:
                rows = await GraphRows(session, principal.scope).violations_before(
                    query, before_seq, size + 1
                )
            return Connection.build_backward(
                [(r.seq, Violation.of(r)) for r in rows], size, before_seq
            )
        size, after_seq = page_size(first or DEFAULT_FIRST), seq_of(after)
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
        principal, first = await info.context.principal(), page_size(first)
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
        principal, first = await info.context.principal(), page_size(first)
        after_seq = seq_of(after)
        async with info.context.service.store.read(principal.scope) as data:
            rows = await data.repository(OutboxRepository).dead_letters(after_seq, first + 1)
        return Connection.build([(r.id, DeadLetter.of(r)) for r in rows], first, after_seq)

    @strawberry.field(description="The regulations applied to the tenant, with their rules.")
    async def regulations(self, info: Info) -> list[Regulation]:
        principal = await info.context.principal()
        rules = principal.runtime.rules
        health = {
            h.rule: RuleHealth(
                evaluated=h.evaluated, hits=h.hits, not_applied=h.not_applied, errors=h.errors,
                last_error=h.last_error, last_missing_key=h.last_missing,
            )
            for h in rules.health()
        }  # fmt: skip
        # describe() lists the regulations in the tenant's order, each with its rules
        return [
            Regulation(
                name=document["name"],
                rules=[
                    Rule.of(name, rule, health.get(f"{name}/{rule['id']}"))
                    for name in [document["name"]]
                    for rule in document["rules"]
                ],
            )
            for document in rules.describe()
        ]

    @strawberry.field(
        description="Violations per rule and event totals for a period (default: a day)."
    )
    async def report(
        self, info: Info, since: datetime | None = None, until: datetime | None = None
    ) -> Report:
        principal = await info.context.principal()
        since, until = period(since, until)
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
        since, until = period(since, until)
        await info.context.service.meter.flush()
        async with info.context.service.store.read(principal.scope) as data:
            return [Usage.of(row) for row in await data.usage.hours(since, until)]

    @strawberry.field(description="Violations by hour and region (default: the last day).")
    async def violation_heatmap(
        self, info: Info, since: datetime | None = None, until: datetime | None = None
    ) -> list[HeatCell]:
        principal = await info.context.principal()
        since, until = period(since, until)
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
        since, until = period(since, until)
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
