"""Tenant-scoped reads the GraphQL layer batches (DataLoaders) and the dashboard's
aggregations. Like every repository, each statement is pinned to the scope's tenant."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, union_all

from ott_runtime.storage import ViolationQuery
from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import EventRow, RiskScoreRow, ViolationHourRow, ViolationRow


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
        if self._session.get_bind().dialect.name == "postgresql":
            return func.to_char(column, 'YYYY-MM-DD"T"HH24:00:00"Z"')
        return func.strftime("%Y-%m-%dT%H:00:00Z", column)

    def _region(self) -> ColumnElement[str]:
        return func.coalesce(EventRow.payload["geo"]["country"].as_string(), "unknown")

    def _pieces(self, since: datetime, until: datetime, *columns: str) -> list[Select[Any]]:
        """``columns`` + count of the period's violations, as statements to add up: the
        whole hours from the hourly rollup, the partial hours at either end from the
        stored violations joined to their events (the same counts either way)."""
        first, last = whole_hours(since, until)
        pieces: list[Select[Any]] = []
        if first < last:
            rollup = [
                {
                    "hour": self._hour(ViolationHourRow.hour),
                    "region": ViolationHourRow.region,
                    "content": ViolationHourRow.content_id,
                    "rule": ViolationHourRow.regulation + "/" + ViolationHourRow.rule_id,
                }[name]
                for name in columns
            ]
            pieces.append(
                self._where_tenant(
                    select_counts(rollup, func.sum(ViolationHourRow.count))
                    .where(ViolationHourRow.hour >= first, ViolationHourRow.hour < last)
                    .group_by(*rollup),
                    ViolationHourRow,
                )
            )
        else:
            first = last = until
        for start, end in ((since, first), (last, until)):
            if start >= end:
                continue
            raw = [
                {
                    "hour": self._hour(ViolationRow.occurred_at),
                    "region": self._region(),
                    "content": func.coalesce(ViolationRow.content_id, "unknown"),
                    "rule": ViolationRow.regulation + "/" + ViolationRow.rule_id,
                }[name]
                for name in columns
            ]
            pieces.append(
                self._where_tenant(
                    select_counts(raw, func.count())
                    # outer: a violation outlives its event (retention) and the rollup, made
                    # at ingest, counts it; the join condition pins the event's tenant
                    .outerjoin(
                        EventRow,
                        (EventRow.seq == ViolationRow.event_seq)
                        & (EventRow.tenant_id == ViolationRow.tenant_id),
                    )
                    .where(ViolationRow.occurred_at >= start, ViolationRow.occurred_at < end)
                    .group_by(*raw),
                    ViolationRow,
                )
            )
        return pieces

    async def heatmap(self, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
        """Violations per hour and region (the event's geo.country): (hour, region, count)."""
        cells: Counter[tuple[str, str]] = Counter()
        for piece in self._pieces(since, until, "hour", "region"):
            for hour, region, count in await self._session.execute(piece):
                cells[(str(hour), str(region))] += int(count)
        return sorted((h, r, n) for (h, r), n in cells.items())

    async def network(
        self, since: datetime, until: datetime, limit: int
    ) -> list[tuple[str, str, str, int]]:
        """The most frequent (content, region, rule) triples: (content, region, rule, count),
        most frequent first (ties in name order)."""
        pieces = self._pieces(since, until, "content", "region", "rule")
        if not pieces:
            return []
        parts = union_all(*pieces).subquery() if len(pieces) > 1 else pieces[0].subquery()
        content, region, rule = (parts.c[i] for i in range(3))
        total = func.sum(parts.c.n)
        statement = (
            select(content, region, rule, total)
            .group_by(content, region, rule)
            .order_by(total.desc(), content, region, rule)
            .limit(limit)
        )
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


def select_counts(columns: Sequence[Any], count: ColumnElement[Any]) -> Select[Any]:
    return select(*columns, count.label("n"))


def whole_hours(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The first and the end of the whole hours inside [since, until) (first >= end: none)."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)  # UTC hours, like the rollup
    first = since.replace(minute=0, second=0, microsecond=0)
    if first < since:
        first += timedelta(hours=1)
    return first, until.replace(minute=0, second=0, microsecond=0)
