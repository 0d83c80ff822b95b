"""Tenant-scoped reads the GraphQL layer batches (DataLoaders) and the dashboard's
aggregations. Like every repository, each statement is pinned to the scope's tenant."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, func, literal, select, union_all

from ott_runtime.domain.instants import shift
from ott_runtime.storage import ViolationQuery
from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import (
    EventRow,
    RiskScoreRow,
    ViolationHourRow,
    ViolationRegionHourRow,
    ViolationRow,
)

HOUR_LABEL = "%Y-%m-%dT%H:00:00Z"


class GraphRows(ScopedRepository):
    async def events_by_id(self, event_ids: Sequence[str]) -> dict[str, EventRow]:
        statement = self._where_tenant(
            select(EventRow).where(EventRow.event_id.in_(event_ids)), EventRow
        )
        return {row.event_id: row for row in await self._session.scalars(statement)}

    async def risk_by_event(self, event_ids: Sequence[str]) -> dict[str, RiskScoreRow]:
        statement = self._where_tenant(
            select(RiskScoreRow)
            .where(RiskScoreRow.event_id.in_(event_ids))
            .order_by(RiskScoreRow.id),
            RiskScoreRow,
        )
        return {row.event_id: row for row in await self._session.scalars(statement)}

    async def violations_by_event(self, event_ids: Sequence[str]) -> dict[str, list[ViolationRow]]:
        statement = self._where_tenant(
            select(ViolationRow)
            .where(ViolationRow.event_id.in_(event_ids))
            .order_by(ViolationRow.seq),
            ViolationRow,
        )
        found: dict[str, list[ViolationRow]] = defaultdict(list)
        for row in await self._session.scalars(statement):
            found[row.event_id].append(row)
        return found

    async def violations_before(
        self, query: ViolationQuery, before: int | None, limit: int
    ) -> list[ViolationRow]:
        """The newest violations matching ``query`` before seq ``before``, newest first."""
        statement = self._where_tenant(select(ViolationRow), ViolationRow)
        conditions: list[ColumnElement[bool]] = []
        if query.since is not None:
            conditions.append(ViolationRow.occurred_at >= query.since)
        if query.until is not None:
            conditions.append(ViolationRow.occurred_at < query.until)
        if query.min_severity is not None:
            conditions.append(ViolationRow.severity_rank >= query.min_severity)
        for column, value in (
            (ViolationRow.regulation, query.regulation),
            (ViolationRow.rule_id, query.rule_id),
            (ViolationRow.content_id, query.content_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if before is not None:
            conditions.append(ViolationRow.seq < before)
        statement = statement.where(*conditions)
        if query.acknowledged is not None:
            acked = ViolationRow.acknowledged_at
            statement = statement.where(
                acked.is_not(None) if query.acknowledged else acked.is_(None)
            )
        statement = statement.order_by(ViolationRow.seq.desc()).limit(limit)
        return list(await self._session.scalars(statement))

    async def risk_after(
        self, after: int | None, min_score: float, limit: int
    ) -> list[RiskScoreRow]:
        statement = self._where_tenant(select(RiskScoreRow), RiskScoreRow).where(
            RiskScoreRow.score >= min_score
        )
        if after is not None:
            statement = statement.where(RiskScoreRow.id > after)
        statement = statement.order_by(RiskScoreRow.id).limit(limit)
        return list(await self._session.scalars(statement))

    def _hour(self, column: Any) -> ColumnElement[str]:
        if self._is_postgresql:
            return func.to_char(column, 'YYYY-MM-DD"T"HH24:00:00"Z"')
        return func.strftime("%Y-%m-%dT%H:00:00Z", column)

    def _region(self) -> ColumnElement[str]:
        return func.coalesce(EventRow.payload["geo"]["country"].as_string(), "unknown")

    def _rollup(self, first: datetime, last: datetime, *columns: Any) -> Select[Any]:
        """Rollup rows of the whole hours [first, last): ``columns`` and their count."""
        return self._where_tenant(
            select_counts(columns, ViolationHourRow.count).where(
                ViolationHourRow.hour >= first, ViolationHourRow.hour < last
            ),
            ViolationHourRow,
        )

    def _stored(self, start: datetime, end: datetime, *columns: Any) -> Select[Any]:
        """Stored violations in [start, end) with their event: ``columns`` and a count of 1.
        Outer join: a violation outlives its event (retention) and the rollup, made at
        ingest, counts it; the join condition pins the event to the violation's tenant."""
        return self._where_tenant(
            select_counts(columns, literal(1, Integer))
            .select_from(ViolationRow)
            .outerjoin(
                EventRow,
                (EventRow.seq == ViolationRow.event_seq)
                & (EventRow.tenant_id == ViolationRow.tenant_id),
            )
            .where(ViolationRow.occurred_at >= start, ViolationRow.occurred_at < end),
            ViolationRow,
        )

    async def heatmap(self, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
        """Violations per hour and region (the event's geo.country): (hour, region, count).
        Whole hours come from the hourly rollup, the partial ones at either end from the
        stored violations: the same counts either way."""
        first, last, edges = split_window(since, until)
        cells: Counter[tuple[str, str]] = Counter()
        if first < last:
            regions = ViolationRegionHourRow
            grouped = self._where_tenant(
                select(regions.hour, regions.region, regions.count).where(
                    regions.hour >= first, regions.hour < last
                ),
                ViolationRegionHourRow,
            )
            for at, place, count in await self._session.execute(grouped):
                cells[(hour_label(at), str(place))] += int(count)
        for start, end in edges:
            stored = self._stored(
                start, end, self._hour(ViolationRow.occurred_at), self._region()
            ).subquery()
            grouped = select(stored.c[0], stored.c[1], func.count()).group_by(
                stored.c[0], stored.c[1]
            )
            for label, place, count in await self._session.execute(grouped):
                cells[(str(label), str(place))] += int(count)
        return sorted((h, r, n) for (h, r), n in cells.items())

    async def network(
        self, since: datetime, until: datetime, limit: int
    ) -> list[tuple[str, str, str, int]]:
        """The most frequent (content, region, rule) triples: (content, region, rule, count),
        most frequent first (ties in name order)."""
        first, last, edges = split_window(since, until)
        if not edges:  # whole hours only (the dashboard's window): straight off the rollup
            hours = ViolationHourRow
            statement = self._where_tenant(
                top_links(
                    (hours.content_id, hours.region, hours.regulation, hours.rule_id),
                    func.sum(hours.count),
                    limit,
                ).where(hours.hour >= first, hours.hour < last),
                ViolationHourRow,
            )
        else:
            pieces = [
                self._stored(
                    start,
                    end,
                    func.coalesce(ViolationRow.content_id, "unknown"),
                    self._region(),
                    ViolationRow.regulation,
                    ViolationRow.rule_id,
                )
                for start, end in edges
            ]
            if first < last:
                pieces.append(
                    self._rollup(
                        first,
                        last,
                        ViolationHourRow.content_id,
                        ViolationHourRow.region,
                        ViolationHourRow.regulation,
                        ViolationHourRow.rule_id,
                    )
                )
            parts = (union_all(*pieces) if len(pieces) > 1 else pieces[0]).subquery()
            key = tuple(parts.c[i] for i in range(4))
            statement = top_links(key, func.sum(parts.c.n), limit)
        return [
            (str(c), str(r), str(u), int(n))
            for c, r, u, n in await self._session.execute(statement)
        ]

    async def hourly_counts(
        self, since: datetime, until: datetime, *, include_events: bool
    ) -> list[tuple[str, int, int]]:
        """(hour, events, violations) for the forecast chart; events stay 0 unless asked
        for (counting them scans every event of the period)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        if include_events:
            event_hour = self._hour(EventRow.occurred_at)
            events = self._where_tenant(
                select(event_hour, func.count())
                .where(EventRow.occurred_at >= since, EventRow.occurred_at < until)
                .group_by(event_hour),
                EventRow,
            )
            for when, n in await self._session.execute(events):
                counts[str(when)][0] = int(n)
        for when, _region, n in await self.heatmap(since, until):
            counts[when][1] += n
        return [(when, e, v) for when, (e, v) in sorted(counts.items())]


def select_counts(columns: Sequence[Any], count: Any) -> Select[Any]:
    return select(*columns, count.label("n"))


def top_links(key: Sequence[Any], total: Any, limit: int) -> Select[Any]:
    """(content, region, "regulation/rule", total) of the ``limit`` largest totals, ties
    in name order; ``key`` is (content, region, regulation, rule id)."""
    content, region, regulation, rule_id = key
    rule = regulation + "/" + rule_id
    return (
        select(content, region, rule, total)
        .group_by(content, region, regulation, rule_id)
        .order_by(total.desc(), content, region, rule)
        .limit(limit)
    )


def hour_label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(HOUR_LABEL)


def split_window(
    since: datetime, until: datetime
) -> tuple[datetime, datetime, list[tuple[datetime, datetime]]]:
    """[since, until) as its whole UTC hours [first, last) (first >= last: none) and the
    partial stretches around them."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)  # UTC hours, like the rollup
    first = since.replace(minute=0, second=0, microsecond=0)
    if first < since:  # (stops at the last instant instead of overflowing)
        first = shift(first, timedelta(hours=1))
    last = until.replace(minute=0, second=0, microsecond=0)
    if first >= last:
        return first, last, [(since, until)] if since < until else []
    return first, last, [(a, b) for a, b in ((since, first), (last, until)) if a < b]
