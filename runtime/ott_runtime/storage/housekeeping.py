"""Tenant housekeeping: usage counters per hour and retention (``spec.retention``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select

from ott_runtime.storage.rollups import ViolationRollups
from ott_runtime.storage.scope import ScopedRepository, dialect_insert
from ott_runtime.storage.tables import (
    BlindIndexRow,
    EventRow,
    RiskScoreRow,
    UsageRow,
    ViolationRow,
)

_USAGE_COUNTERS = ("events", "api_calls", "bytes_in", "rule_evaluations")
# (dialect, counters given) -> the upsert with bound parameters: built (and its cache key
# computed) once, not for every ingest batch
_USAGE_UPSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}


class UsageRepository(ScopedRepository):
    async def add(self, hour: datetime, **counts: int) -> None:
        """Adds to the tenant's counters for ``hour`` (an upsert on both databases)."""
        values = self._owned({"hour": hour, **counts})
        for column in _USAGE_COUNTERS:
            values.setdefault(column, 0)
        dialect = self._session.get_bind().dialect.name
        key = (dialect, tuple(counts))
        statement = _USAGE_UPSERTS.get(key)
        if statement is None:
            insert = dialect_insert(self._session)
            columns = ("tenant_id", "hour", *_USAGE_COUNTERS)
            statement = insert(UsageRow).values({c: bindparam(c) for c in columns})
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "hour"],
                set_={c: getattr(UsageRow, c) + statement.excluded[c] for c in counts},
            )
            _USAGE_UPSERTS[key] = statement
        await self._session.execute(statement, values)

    async def hours(self, since: datetime, until: datetime) -> list[UsageRow]:
        statement = self._where_tenant(
            select(UsageRow)
            .where(UsageRow.hour >= since, UsageRow.hour < until)
            .order_by(UsageRow.hour),
            UsageRow,
        )
        return list((await self._session.scalars(statement)).all())


# no ORM session synchronisation (nothing is loaded) and so no RETURNING: the row counts
# are then reported by the database driver itself
_PLAIN_DELETE = {"synchronize_session": False}


class RetentionRepository(ScopedRepository):
    async def purge(self, events_before: datetime, violations_before: datetime) -> dict[str, int]:
        """Deletes what ``spec.retention`` no longer keeps; returns rows removed per table."""
        old_events = self._where_tenant(
            select(EventRow.seq).where(EventRow.occurred_at < events_before), EventRow
        )
        removed: dict[str, int] = {}
        for name, table in (("blindIndexes", BlindIndexRow), ("riskScores", RiskScoreRow)):
            result = await self._session.execute(
                self._where_tenant(delete(table).where(table.event_seq.in_(old_events)), table),
                execution_options=_PLAIN_DELETE,
            )
            removed[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
        events = await self._session.execute(
            self._where_tenant(
                delete(EventRow).where(EventRow.occurred_at < events_before), EventRow
            ),
            execution_options=_PLAIN_DELETE,
        )
        removed["events"] = int(events.rowcount or 0)  # type: ignore[attr-defined]
        violations = await self._session.execute(
            self._where_tenant(
                delete(ViolationRow).where(ViolationRow.occurred_at < violations_before),
                ViolationRow,
            ),
            execution_options=_PLAIN_DELETE,
        )
        removed["violations"] = int(violations.rowcount or 0)  # type: ignore[attr-defined]
        rollups = ViolationRollups(self._session, self._scope)
        removed["violationHours"] = await rollups.purge(violations_before)
        return removed
