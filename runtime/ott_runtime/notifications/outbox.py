"""The notification outbox: rows written in the ingest transaction (so a committed
violation always has its notifications), read by the delivery worker and by the API.

Tenant reads and the enqueue go through :class:`OutboxRepository` (tenant-scoped). The
worker's claim/complete statements span the tenants this process serves, like the
retention job: they run for the process, not for a request.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ott_runtime.domain.regulation import Severity
from ott_runtime.ingest.publishing import violation_json
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.storage import Database, NewRiskScore, StoredViolation, TenantData
from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import NotificationRow

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
RISK_ALERT_SEVERITY = Severity.HIGH  # risk alerts reach webhooks whose minSeverity <= high


class OutboxRepository(ScopedRepository):
    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._session.add_all([NotificationRow(**self._owned(row)) for row in rows])
            await self._session.flush()

    async def dead_letters(self, after: int | None, limit: int) -> list[NotificationRow]:
        statement = self._where_tenant(
            select(NotificationRow).where(NotificationRow.status == DEAD), NotificationRow
        )
        if after is not None:
            statement = statement.where(NotificationRow.id > after)
        return list(
            await self._session.scalars(statement.order_by(NotificationRow.id).limit(limit))
        )

    async def requeue(self, delivery_id: str, now: datetime) -> bool:
        """Sends a dead letter again (same delivery id, attempts restart)."""
        statement = self._where_tenant(
            update(NotificationRow)
            .where(NotificationRow.delivery_id == delivery_id, NotificationRow.status == DEAD)
            .values(status=PENDING, attempts=0, next_attempt_at=now, leased_until=None),
            NotificationRow,
        )
        result = await self._session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]


def dead_letter_json(row: NotificationRow) -> dict[str, Any]:
    return {
        "deliveryId": row.delivery_id,
        "kind": row.kind,
        "url": row.url,
        "attempts": row.attempts,
        "lastError": row.last_error,
        "createdAt": row.created_at.isoformat(),
        "payload": row.payload,
    }


def _row(
    runtime: TenantRuntime, webhook: Any, kind: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    delivery_id = str(uuid.uuid4())
    return {
        "delivery_id": delivery_id,
        "kind": kind,
        "url": webhook.url,
        "secret_name": webhook.secret_ref.name,
        "secret_key": webhook.secret_ref.key,
        "payload": {
            "id": delivery_id,
            "type": kind,
            "tenant": runtime.name,
            "createdAt": now.isoformat(),
            "data": data,
        },
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }


async def enqueue(
    data: TenantData,
    runtime: TenantRuntime,
    violations: Sequence[StoredViolation],
    scores: Sequence[tuple[int, NewRiskScore]],
) -> int:
    """The pipeline's transaction hook: one outbox row per webhook and notification.
    Returns the rows written."""
    webhooks = runtime.spec.notifications.webhooks
    if not webhooks:
        return 0
    now = datetime.now(UTC)
    threshold = runtime.spec.scoring.risk_threshold
    rows = []
    for webhook in webhooks:
        minimum = webhook.min_severity.rank
        for violation in violations:
            if violation.severity_rank >= minimum:
                rows.append(_row(runtime, webhook, "violation", violation_json(violation), now))
        if RISK_ALERT_SEVERITY.rank >= minimum:
            for risk_id, score in scores:
                if score.score >= threshold:
                    alert = {
                        "id": risk_id,
                        "eventId": score.event_id,
                        "score": score.score,
                        "model": score.model,
                        "threshold": threshold,
                        "explanation": score.explanation,
                    }
                    rows.append(_row(runtime, webhook, "risk.alert", alert, now))
    await data.repository(OutboxRepository).add(rows)
    return len(rows)


@dataclass(frozen=True)
class Claimed:
    id: int
    tenant_id: str
    delivery_id: str
    kind: str
    url: str
    secret_name: str
    secret_key: str
    payload: dict[str, Any]
    attempts: int


class OutboxQueue:
    """The worker's view: claim due rows with a lease (SKIP LOCKED on PostgreSQL, so two
    replicas never send the same row at once), then record each outcome."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(self, tenants: Sequence[str], limit: int, lease: timedelta) -> list[Claimed]:
        now = datetime.now(UTC)
        due = (
            select(NotificationRow.id)
            .where(
                NotificationRow.status == PENDING,
                NotificationRow.tenant_id.in_(tenants),
                NotificationRow.next_attempt_at <= now,
                (NotificationRow.leased_until.is_(None)) | (NotificationRow.leased_until < now),
            )
            .order_by(NotificationRow.next_attempt_at, NotificationRow.id)
            .limit(limit)
        )
        if not self._database.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        async with self._database.transaction() as session:
            ids = list(await session.scalars(due))
            if not ids:
                return []
            await session.execute(
                update(NotificationRow)
                .where(NotificationRow.id.in_(ids))
                .values(leased_until=now + lease)
            )
            rows = await session.scalars(select(NotificationRow).where(NotificationRow.id.in_(ids)))
            return [
                Claimed(
                    r.id,
                    r.tenant_id,
                    r.delivery_id,
                    r.kind,
                    r.url,
                    r.secret_name,
                    r.secret_key,
                    r.payload,
                    r.attempts,
                )
                for r in rows
            ]

    async def delivered(self, row_id: int, attempts: int) -> None:
        await self._finish(
            row_id,
            status=DELIVERED,
            attempts=attempts,
            delivered_at=datetime.now(UTC),
            leased_until=None,
            last_error=None,
        )

    async def retry_later(self, row_id: int, attempts: int, at: datetime, error: str) -> None:
        await self._finish(
            row_id,
            attempts=attempts,
            next_attempt_at=at,
            leased_until=None,
            last_error=error[:1024],
        )

    async def dead(self, row_id: int, attempts: int, error: str) -> None:
        await self._finish(
            row_id, status=DEAD, attempts=attempts, leased_until=None, last_error=error[:1024]
        )

    async def _finish(self, row_id: int, **values: Any) -> None:
        async with self._database.transaction() as session:
            await session.execute(
                update(NotificationRow).where(NotificationRow.id == row_id).values(**values)
            )
