"""The dashboard's hourly violation rollups (by content, region and rule; and by region
only), kept in the ingest transaction, and the tenant's commit-order lock that the same
call takes first on PostgreSQL.

Commit order: stream clients resume from the last row id they saw. On PostgreSQL two
replicas ingesting for one tenant could draw ids 10 and 11 and commit 11 first; a client
reading in between would move its cursor past 10 and never see it. A transaction-scoped
advisory lock per tenant, taken before any id is drawn, makes one tenant's batches draw
and commit their ids in the same order (SQLite has one writer, so it needs nothing).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete

from ott_runtime.storage.direct import DirectStatements, add_to_rows
from ott_runtime.storage.records import NewEvent, NewViolation
from ott_runtime.storage.scope import ScopedRepository, table_of
from ott_runtime.storage.tables import ViolationHourRow, ViolationRegionHourRow

UNKNOWN = "unknown"  # what the dashboard shows for a missing region or content
_REGION_MAX = 128
_LOCK_NAMESPACE = b"ottc.ingest:"


_LOCK = "SELECT pg_advisory_xact_lock($1)"


@dataclass(frozen=True)
class _Rollup:
    table: str
    key: tuple[str, ...]  # the primary key after tenant_id
    postgres_types: tuple[str, ...]


_HOURS = _Rollup(
    table_of(ViolationHourRow).name,
    ("hour", "region", "content_id", "regulation", "rule_id"),
    ("timestamp", "varchar", "varchar", "varchar", "varchar", "bigint"),
)
_REGION_HOURS = _Rollup(
    table_of(ViolationRegionHourRow).name,
    ("hour", "region"),
    ("timestamp", "varchar", "bigint"),
)


async def _upsert(
    statements: DirectStatements, tenant_id: str, rollup: _Rollup, rows: list[tuple[Any, ...]]
) -> None:
    """Adds ``count`` to existing rows, inserts the others (sorted keys: the same lock
    order in every transaction)."""
    await add_to_rows(
        statements, rollup.table, ("tenant_id", *rollup.key), (*rollup.key, "count"),
        rollup.postgres_types, rows, summed=("count",), shared={"tenant_id": tenant_id},
    )  # fmt: skip


def hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (the database truncates the stored UTC value)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def region_of(payload: dict[str, Any]) -> str:
    """The event's ``geo.country`` as stored (the dashboard's region), or "unknown"."""
    geo = payload.get("geo")
    country = geo.get("country") if isinstance(geo, dict) else None
    if country is None:
        return UNKNOWN
    region = country if isinstance(country, str) else str(country)
    return region if len(region) <= _REGION_MAX else UNKNOWN  # e.g. a ciphertext


def ingest_lock_key(tenant_id: str) -> int:
    """A stable signed 64-bit advisory-lock key for the tenant's ingest."""
    digest = hashlib.blake2b(_LOCK_NAMESPACE + tenant_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class ViolationRollups(ScopedRepository):
    async def record_batch(
        self, events: Sequence[NewEvent], violations: Sequence[NewViolation]
    ) -> None:
        """Call first in the ingest transaction, before the rows are inserted: takes the
        tenant's commit-order lock (PostgreSQL), then adds the batch's violations to the
        hourly rollups. All of it commits or rolls back with the batch."""
        statements = await DirectStatements.of(self._session)
        if not statements.is_sqlite:
            await statements.fetch(_LOCK, (ingest_lock_key(self.tenant_id),))
        if not violations:
            return
        hour_of_stored = statements.stored_datetime
        region_by_event = {event.event_id: region_of(event.payload) for event in events}
        counts: Counter[tuple[datetime, str, str, str, str]] = Counter(
            (
                hour_of(v.occurred_at),
                region_by_event.get(v.event_id, UNKNOWN),
                v.content_id if v.content_id is not None else UNKNOWN,
                v.regulation,
                v.rule_id,
            )
            for v in violations
        )
        tenant = self.tenant_id
        await _upsert(
            statements,
            tenant,
            _HOURS,
            [
                (hour_of_stored(hour), region, content, regulation, rule, n)
                for (hour, region, content, regulation, rule), n in sorted(counts.items())
            ],
        )
        regions: Counter[tuple[datetime, str]] = Counter()
        for (hour, region, *_rule), n in counts.items():
            regions[(hour, region)] += n
        await _upsert(
            statements,
            tenant,
            _REGION_HOURS,
            [(hour_of_stored(hour), region, n) for (hour, region), n in sorted(regions.items())],
        )

    async def purge(self, violations_before: datetime) -> int:
        """Removes the hours whose violations retention has removed entirely (an hour the
        cutoff falls inside stays until the next run moves past it)."""
        removed = 0
        for table in (ViolationHourRow, ViolationRegionHourRow):
            result = await self._session.execute(
                self._where_tenant(
                    delete(table).where(table.hour <= violations_before - timedelta(hours=1)),
                    table,
                ),
                execution_options={"synchronize_session": False},
            )
            removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return removed
