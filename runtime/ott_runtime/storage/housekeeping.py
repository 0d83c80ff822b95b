"""Tenant housekeeping: usage counters per hour and retention (``spec.retention``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from ott_runtime.storage.blind_indexes import delete_blind_indexes
from ott_runtime.storage.direct import DirectStatements, add_to_rows
from ott_runtime.storage.rollups import ViolationRollups
from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import (
    BlindIndexRow,
    EventRow,
    RiskScoreRow,
    UsageRow,
    ViolationRow,
)

_USAGE_COUNTERS = ("events", "api_calls", "bytes_in", "rule_evaluations")
_USAGE_COLUMNS = ("hour", *_USAGE_COUNTERS)
_USAGE_TYPES = ("timestamp", "bigint", "bigint", "bigint", "bigint")


class UsageRepository(ScopedRepository):
    async def add(self, hour: datetime, **counts: int) -> None:
        """Adds to the tenant's counters for ``hour`` (an upsert on both databases)."""
        unknown = sorted(set(counts) - set(_USAGE_COUNTERS))
        if unknown:
            raise ValueError(f"no usage counter {unknown}; known: {list(_USAGE_COUNTERS)}")
        statements = await DirectStatements.of(self._session)
        hour_stored = statements.stored_datetime(hour)
        row = (hour_stored, *(counts.get(c, 0) for c in _USAGE_COUNTERS))
        await add_to_rows(
            statements, UsageRow.__tablename__, ("tenant_id", "hour"), _USAGE_COLUMNS,
            _USAGE_TYPES, [row], summed=tuple(counts), shared={"tenant_id": self.tenant_id},
        )  # fmt: skip

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
        blind = delete_blind_indexes(old_events)
        risk = delete(RiskScoreRow).where(RiskScoreRow.event_seq.in_(old_events))
        removed: dict[str, int] = {}
        for name, table, statement in (
            ("blindIndexes", BlindIndexRow, blind),
            ("riskScores", RiskScoreRow, risk),
        ):
            result = await self._session.execute(
                self._where_tenant(statement, table), execution_options=_PLAIN_DELETE
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
