"""The dashboard's hourly violation rollup over SQLite and PostgreSQL: kept in the ingest
transaction, it gives the same heatmap, network and hourly counts as the stored rows do
(aligned and unaligned windows), survives retried batches, is pruned by retention and is
filled from existing rows by migration 0003; and one tenant's ingests commit their ids in
order across connections (PostgreSQL advisory lock)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import func, select

from ott_runtime.storage import Database, NewEvent, NewViolation, Store, TenantScope
from ott_runtime.storage.aggregations import GraphRows
from ott_runtime.storage.database import _alembic_config
from ott_runtime.storage.rollups import ViolationRollups
from ott_runtime.storage.tables import (
    EventRow,
    ViolationHourRow,
    ViolationRegionHourRow,
    ViolationRow,
)

from .conftest import Deployment

ACME = TenantScope("acme")
BASE = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
COUNTRIES = ["DE", "FR", "US", None]
INDIA = timezone(timedelta(hours=5, minutes=30))  # hours must be cut in UTC, not here


def ad(index: int, at: datetime) -> dict[str, Any]:
    country = COUNTRIES[index % len(COUNTRIES)]
    event: dict[str, Any] = {
        "specVersion": "1",
        "id": f"ev-{index}",
        "type": "ad.impression",
        "time": at.isoformat(),
        "viewer": {"id": f"viewer-{index}", "isKidsProfile": index % 3 != 0},
        "content": {"id": f"show-{index % 5}", "channelId": f"ch-{index}"},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": True},
    }
    if country is not None:
        event["geo"] = {"country": country}
    return event


def spread(count: int) -> list[dict[str, Any]]:
    """Events over about 30 hours at uneven minutes, some stamped with a +05:30 offset."""
    events = []
    for index in range(count):
        at = BASE + timedelta(minutes=index * 37 % (30 * 60), seconds=index)
        if index % 4 == 0:
            at = at.astimezone(INDIA)
        events.append(ad(index, at))
    return events


async def raw_cells(database: Database) -> Counter[Any]:
    """Reference: every stored violation joined to its event, counted in Python."""
    async with database.session() as session:
        rows = await session.execute(
            select(
                ViolationRow.occurred_at,
                ViolationRow.content_id,
                ViolationRow.regulation,
                ViolationRow.rule_id,
                EventRow.payload,
            )
            .join(EventRow, EventRow.seq == ViolationRow.event_seq)
            .where(ViolationRow.tenant_id == "acme")
        )
        found = list(rows)
    return Counter(_key(*row) for row in found)


def _key(at: datetime, content: str | None, regulation: str, rule: str, payload: Any) -> Any:
    region = (payload.get("geo") or {}).get("country") or "unknown"
    return (at, region, content or "unknown", f"{regulation}/{rule}")


def expected(
    cells: Counter[Any], since: datetime, until: datetime, limit: int
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, str, int]]]:
    heat: Counter[tuple[str, str]] = Counter()
    links: Counter[tuple[str, str, str]] = Counter()
    for (at, region, content, rule), n in cells.items():
        if since <= at < until:
            heat[(at.strftime("%Y-%m-%dT%H:00:00Z"), region)] += n
            links[(content, region, rule)] += n
    network = sorted(
        ((c, r, u, n) for (c, r, u), n in links.items()), key=lambda x: (-x[3], x[:3])
    )[:limit]
    return sorted((h, r, n) for (h, r), n in heat.items()), network


def kids_violation(event_id: str, content: str, at: datetime) -> NewViolation:
    return NewViolation(
        event_id, "ad.impression", "coppa", "kids", "high", 2, "m", "r", content, at
    )


WINDOWS = [
    (BASE - timedelta(hours=2), BASE + timedelta(hours=40)),  # everything, whole hours
    (BASE + timedelta(hours=3, minutes=17), BASE + timedelta(hours=21, minutes=42)),
    (BASE + timedelta(hours=5, minutes=10), BASE + timedelta(hours=5, minutes=50)),  # one hour
    (BASE + timedelta(hours=5, minutes=10), BASE + timedelta(hours=6, minutes=50)),  # no whole
    (BASE + timedelta(hours=7), BASE + timedelta(hours=7, minutes=30, seconds=5)),
]


async def test_rollups_give_what_the_stored_rows_give(deployment: Deployment) -> None:
    service = deployment.service
    events = spread(240)
    for start in range(0, len(events), 40):
        await service.pipeline.ingest_body(ACME, orjson.dumps(events[start : start + 40]))
    # a retried batch stores nothing and counts nothing twice
    await service.pipeline.ingest_body(ACME, orjson.dumps(events[:40]))
    # another tenant's violations never show up in acme's counts
    await service.pipeline.ingest_body(TenantScope("globex"), orjson.dumps(events[:40]))

    cells = await raw_cells(service.database)
    assert sum(cells.values()) > 100
    async with service.database.session() as session:
        stored = await session.scalar(
            select(func.sum(ViolationHourRow.count)).where(ViolationHourRow.tenant_id == "acme")
        )
        assert int(stored or 0) == sum(cells.values())
        by_region = await session.scalar(
            select(func.sum(ViolationRegionHourRow.count)).where(
                ViolationRegionHourRow.tenant_id == "acme"
            )
        )
        assert int(by_region or 0) == sum(cells.values())
        rows = GraphRows(session, ACME)
        for since, until in WINDOWS:
            heat, network = expected(cells, since, until, 1000)
            assert await rows.heatmap(since, until) == heat, (since, until)
            assert await rows.network(since, until, 1000) == network, (since, until)
            assert await rows.network(since, until, 3) == network[:3]
            hourly = await rows.hourly_counts(since, until, include_events=False)
            per_hour: Counter[str] = Counter()
            for hour, _region, n in heat:
                per_hour[hour] += n
            assert [(h, v) for h, _e, v in hourly] == sorted(per_hour.items())


async def test_retention_prunes_the_rollup_hours_it_emptied(deployment: Deployment) -> None:
    service = deployment.service
    await service.pipeline.ingest_body(ACME, orjson.dumps(spread(120)))
    cutoff = BASE + timedelta(hours=10, minutes=30)
    async with service.store.write(ACME) as data:
        removed = await data.retention.purge(cutoff, cutoff)
    assert removed["violationHours"] > 0
    async with service.database.session() as session:
        hours = set(
            await session.scalars(
                select(ViolationHourRow.hour).where(ViolationHourRow.tenant_id == "acme")
            )
        )
        rows = GraphRows(session, ACME)
        cells = await raw_cells(service.database)
        later = cutoff + timedelta(minutes=30)  # whole hours after the cutoff's own hour
        heat, network = expected(cells, later, later + timedelta(days=2), 1000)
        assert await rows.heatmap(later, later + timedelta(days=2)) == heat
        assert await rows.network(later, later + timedelta(days=2), 1000) == network
        region_hours = set(
            await session.scalars(
                select(ViolationRegionHourRow.hour).where(
                    ViolationRegionHourRow.tenant_id == "acme"
                )
            )
        )
    assert region_hours == hours
    assert min(hours) == BASE + timedelta(hours=10)  # the hour the cutoff falls inside stays
    assert all(h > cutoff - timedelta(hours=1) for h in hours)


async def test_migration_fills_the_rollup_from_stored_rows(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0002"))
        store = Store(database)
        at = BASE + timedelta(minutes=42)
        async with store.write(ACME) as data:
            seqs = await data.events.add(
                [
                    NewEvent(f"m{i}", "ad.impression", at, at, f"show-{i % 2}", payload, None)
                    for i, payload in enumerate(
                        [{"geo": {"country": "DE"}}, {"geo": {"country": "DE"}}, {}]
                    )
                ]
            )
            await data.violations.add(
                [kids_violation(f"m{i}", f"show-{i % 2}", at) for i in range(3)],
                seqs,
            )
        await database.migrate()
        async with database.session() as session:
            filled = {
                (row.hour, row.region, row.content_id, row.count)
                for row in await session.scalars(select(ViolationHourRow))
            }
        hour = BASE.replace(tzinfo=UTC)
        assert filled == {(hour, "DE", "show-0", 1), (hour, "DE", "show-1", 1),
                          (hour, "unknown", "show-0", 1)}  # fmt: skip
        # a batch ingested after the migration adds to the same rows
        async with store.write(ACME) as data:
            await data.repository(ViolationRollups).record_batch(
                [
                    NewEvent(
                        "n", "ad.impression", at, at, "show-0", {"geo": {"country": "DE"}}, None
                    )
                ],
                [kids_violation("n", "show-0", at)],
            )
        async with database.session() as session:
            count = await session.scalar(
                select(ViolationHourRow.count).where(
                    ViolationHourRow.region == "DE", ViolationHourRow.content_id == "show-0"
                )
            )
            regions = {
                (row.region, row.count)
                for row in await session.scalars(select(ViolationRegionHourRow))
            }
        assert count == 2
        assert regions == {("DE", 3), ("unknown", 1)}
    finally:
        await database.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_one_tenants_ingests_commit_in_id_order(database_url: str) -> None:
    """While one transaction of a tenant is open, another of the same tenant waits before
    drawing ids (so a stream client can never see a later id commit first); another
    tenant's does not wait."""
    database = Database(database_url)
    await database.migrate()
    store = Store(database)
    at = datetime.now(UTC)

    def event(event_id: str) -> NewEvent:
        return NewEvent(event_id, "ad.impression", at, at, None, {}, None)

    async def second(scope: TenantScope, event_id: str) -> int:
        async with store.write(scope) as data:
            await data.repository(ViolationRollups).record_batch([event(event_id)], [])
            return (await data.events.add([event(event_id)]))[event_id]

    try:
        async with store.write(ACME) as data:
            await data.repository(ViolationRollups).record_batch([event("first")], [])
            waiting = asyncio.create_task(second(ACME, "second"))
            other = await asyncio.wait_for(second(TenantScope("globex"), "other"), 10)
            await asyncio.sleep(0.5)
            assert not waiting.done()  # blocked before drawing an id
            first = (await data.events.add([event("first")]))["first"]
        assert await asyncio.wait_for(waiting, 10) > first
        assert other > 0
    finally:
        await database.close()
