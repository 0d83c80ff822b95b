"""Stored rows after a cursor, in the same shape as the live messages (resume and catch-up).

The cursor of each channel is the stored row's monotonic id: ``events.seq``,
``violations.seq`` and ``risk_scores.id``. Reads go through a tenant-scoped repository.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select

from ott_runtime.ingest.publishing import event_message, risk_message, violation_json
from ott_runtime.realtime.protocol import ChannelFilter
from ott_runtime.storage import Database, TenantScope
from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import EventRow, RiskScoreRow, ViolationRow

PAGE = 500


class StreamRows(ScopedRepository):
    """The rows a stream channel replays, tenant-scoped like every repository."""

    async def latest(self, channel: str) -> int:
        column = {"events": EventRow.seq, "violations": ViolationRow.seq}.get(
            channel, RiskScoreRow.id
        )
        table = column.class_
        statement = self._where_tenant(select(func.max(column)), table)
        return int((await self._session.scalar(statement)) or 0)

    async def page(
        self, channel: str, after: int, channel_filter: ChannelFilter, threshold: float
    ) -> list[dict[str, Any]]:
        """Up to PAGE rows after ``after`` that pass the filter, oldest first."""
        if channel == "events":
            events = self._where_tenant(select(EventRow), EventRow).where(EventRow.seq > after)
            if channel_filter.types:
                events = events.where(EventRow.type.in_(channel_filter.types))
            if channel_filter.content_id is not None:
                events = events.where(EventRow.content_id == channel_filter.content_id)
            rows = await self._session.scalars(events.order_by(EventRow.seq).limit(PAGE))
            return [event_message(row.seq, row) for row in rows]
        if channel == "violations":
            violations = self._where_tenant(select(ViolationRow), ViolationRow).where(
                ViolationRow.seq > after
            )
            if channel_filter.min_severity is not None:
                violations = violations.where(
                    ViolationRow.severity_rank >= channel_filter.min_severity.rank
                )
            for column, value in (
                (ViolationRow.regulation, channel_filter.regulation),
                (ViolationRow.rule_id, channel_filter.rule_id),
                (ViolationRow.content_id, channel_filter.content_id),
            ):
                if value is not None:
                    violations = violations.where(column == value)
            found = await self._session.scalars(violations.order_by(ViolationRow.seq).limit(PAGE))
            return [{"seq": row.seq, **violation_json(row)} for row in found]
        minimum = threshold if channel_filter.threshold is None else channel_filter.threshold
        risks = self._where_tenant(select(RiskScoreRow), RiskScoreRow).where(
            RiskScoreRow.id > after, RiskScoreRow.score >= minimum
        )
        scored = await self._session.scalars(risks.order_by(RiskScoreRow.id).limit(PAGE))
        return [risk_message(row.id, row) for row in scored]


class Replayer:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def latest(self, scope: TenantScope, channel: str) -> int:
        async with self._database.session() as session:
            return await StreamRows(session, scope).latest(channel)

    async def after(
        self,
        scope: TenantScope,
        channel: str,
        cursor: int,
        channel_filter: ChannelFilter,
        threshold: float,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of stored rows after ``cursor`` until none is left (a short read each)."""
        while True:
            async with self._database.session() as session:
                page = await StreamRows(session, scope).page(
                    channel, cursor, channel_filter, threshold
                )
            if not page:
                return
            yield page
            cursor = int(page[-1]["seq"])
            if len(page) < PAGE:
                return
