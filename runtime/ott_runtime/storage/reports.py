"""Aggregations for reports and analytics, computed by the database (tenant-scoped)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, select

from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import EventRow, RiskScoreRow, ViolationRow


class Bucket(StrEnum):
    HOUR = "hour"
    DAY = "day"


_SQLITE_FORMATS = {Bucket.HOUR: "%Y-%m-%dT%H:00:00Z", Bucket.DAY: "%Y-%m-%dT00:00:00Z"}
_POSTGRES_FORMATS = {
    Bucket.HOUR: 'YYYY-MM-DD"T"HH24:00:00"Z"',
    Bucket.DAY: 'YYYY-MM-DD"T"00:00:00"Z"',
}


class ReportRepository(ScopedRepository):
    def _bucket(self, column: Any, bucket: Bucket) -> ColumnElement[str]:
        if self._is_postgresql:
            return func.to_char(column, _POSTGRES_FORMATS[bucket])
        return func.strftime(_SQLITE_FORMATS[bucket], column)

    async def violation_summary(
        self, since: datetime, until: datetime, *, top: int = 5
    ) -> list[dict[str, Any]]:
        """Per regulation and rule: count, acknowledged, top content and the daily trend."""
        in_period = (ViolationRow.occurred_at >= since, ViolationRow.occurred_at < until)
        acknowledged = func.count(ViolationRow.acknowledged_at)
        per_rule = self._where_tenant(
            select(
                ViolationRow.regulation,
                ViolationRow.rule_id,
                ViolationRow.severity,
                func.max(ViolationRow.reference),
                func.count(),
                acknowledged,
            )
            .where(*in_period)
            .group_by(ViolationRow.regulation, ViolationRow.rule_id, ViolationRow.severity),
            ViolationRow,
        )
        by_content = self._where_tenant(
            select(
                ViolationRow.regulation, ViolationRow.rule_id, ViolationRow.content_id, func.count()
            )
            .where(*in_period, ViolationRow.content_id.is_not(None))
            .group_by(ViolationRow.regulation, ViolationRow.rule_id, ViolationRow.content_id),
            ViolationRow,
        )
        day = self._bucket(ViolationRow.occurred_at, Bucket.DAY)
        trend = self._where_tenant(
            select(ViolationRow.regulation, ViolationRow.rule_id, day, func.count())
            .where(*in_period)
            .group_by(ViolationRow.regulation, ViolationRow.rule_id, day),
            ViolationRow,
        )
        contents: dict[tuple[str, str], list[tuple[str | None, int]]] = defaultdict(list)
        for regulation, rule_id, content_id, count in await self._session.execute(by_content):
            contents[(regulation, rule_id)].append((content_id, int(count)))
        days: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for regulation, rule_id, bucket, count in await self._session.execute(trend):
            days[(regulation, rule_id)].append({"day": bucket, "count": int(count)})
        summary: list[dict[str, Any]] = []
        for regulation, rule_id, severity, reference, count, acked in await self._session.execute(
            per_rule
        ):
            key = (regulation, rule_id)
            ranked = sorted(contents[key], key=lambda item: (-item[1], item[0] or ""))[:top]
            summary.append(
                {
                    "regulation": regulation,
                    "ruleId": rule_id,
                    "severity": severity,
                    "reference": reference,
                    "count": int(count),
                    "acknowledged": int(acked),
                    "topContent": [{"contentId": c, "count": n} for c, n in ranked],
                    "trend": sorted(days[key], key=lambda item: item["day"]),
                }
            )
        summary.sort(key=lambda item: (-item["count"], item["regulation"], item["ruleId"]))
        return summary

    async def event_totals(self, since: datetime, until: datetime) -> dict[str, int]:
        statement = self._where_tenant(
            select(EventRow.type, func.count())
            .where(EventRow.occurred_at >= since, EventRow.occurred_at < until)
            .group_by(EventRow.type),
            EventRow,
        )
        return {t: int(n) for t, n in await self._session.execute(statement)}

    async def timeline(
        self, since: datetime, until: datetime, bucket: Bucket
    ) -> list[dict[str, Any]]:
        """Events per type, violations per severity and mean/max risk for each time bucket."""
        points: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"events": {}, "violations": {}, "risk": None}
        )
        event_bucket = self._bucket(EventRow.occurred_at, bucket)
        events = self._where_tenant(
            select(event_bucket, EventRow.type, func.count())
            .where(EventRow.occurred_at >= since, EventRow.occurred_at < until)
            .group_by(event_bucket, EventRow.type),
            EventRow,
        )
        for when, event_type, count in await self._session.execute(events):
            points[when]["events"][event_type] = int(count)
        violation_bucket = self._bucket(ViolationRow.occurred_at, bucket)
        violations = self._where_tenant(
            select(violation_bucket, ViolationRow.severity, func.count())
            .where(ViolationRow.occurred_at >= since, ViolationRow.occurred_at < until)
            .group_by(violation_bucket, ViolationRow.severity),
            ViolationRow,
        )
        for when, severity, count in await self._session.execute(violations):
            points[when]["violations"][severity] = int(count)
        risk_bucket = self._bucket(EventRow.occurred_at, bucket)
        risk = self._where_tenant(
            select(risk_bucket, func.avg(RiskScoreRow.score), func.max(RiskScoreRow.score))
            .join(EventRow, EventRow.seq == RiskScoreRow.event_seq)
            .where(EventRow.occurred_at >= since, EventRow.occurred_at < until)
            .group_by(risk_bucket),
            RiskScoreRow,
            EventRow,
        )
        for when, mean, peak in await self._session.execute(risk):
            points[when]["risk"] = {"mean": float(mean), "max": float(peak)}
        return [{"bucket": when, **points[when]} for when in sorted(points)]
