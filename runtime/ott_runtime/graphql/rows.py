"""Tenant-scoped reads the GraphQL layer batches (DataLoaders) and the dashboard's
aggregations. Like every repository, each statement is pinned to the scope's tenant."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from ott_runtime.storage import ViolationQuery
from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import EventRow, RiskScoreRow, ViolationRow


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

    async def heatmap(self, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
        """Violations per hour and region (the event's geo.country): (hour, region, count)."""
        hour, region = self._hour(ViolationRow.occurred_at), self._region()
        statement = self._where_tenant(
            select(hour, region, func.count())
            .join(EventRow, EventRow.seq == ViolationRow.event_seq)
            .where(ViolationRow.occurred_at >= since, ViolationRow.occurred_at < until)
            .group_by(hour, region),
            ViolationRow,
            EventRow,
        )
        rows = await self._session.execute(statement)
        return sorted((str(h), str(r), int(n)) for h, r, n in rows)

    async def network(
        self, since: datetime, until: datetime, limit: int
    ) -> list[tuple[str, str, str, int]]:
        """The most frequent (content, region, rule) triples: (content, region, rule, count)."""
        region = self._region()
        rule = ViolationRow.regulation + "/" + ViolationRow.rule_id
        content = func.coalesce(ViolationRow.content_id, "unknown")
        count = func.count()
        statement = self._where_tenant(
            select(content, region, rule, count)
            .join(EventRow, EventRow.seq == ViolationRow.event_seq)
            .where(ViolationRow.occurred_at >= since, ViolationRow.occurred_at < until)
            .group_by(content, region, rule)
            .order_by(count.desc())
            .limit(limit),
            ViolationRow,
            EventRow,
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
        event_hour, violation_hour = (
            self._hour(EventRow.occurred_at),
            self._hour(ViolationRow.occurred_at),
        )
        events = self._where_tenant(
            select(event_hour, func.count())
            .where(EventRow.occurred_at >= since, EventRow.occurred_at < until)
            .group_by(event_hour),
            EventRow,
        )
        violations = self._where_tenant(
            select(violation_hour, func.count())
            .where(ViolationRow.occurred_at >= since, ViolationRow.occurred_at < until)
            .group_by(violation_hour),
            ViolationRow,
        )
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        if include_events:
            for when, n in await self._session.execute(events):
                counts[str(when)][0] = int(n)
        for when, n in await self._session.execute(violations):
            counts[str(when)][1] = int(n)
        return [(when, e, v) for when, (e, v) in sorted(counts.items())]
