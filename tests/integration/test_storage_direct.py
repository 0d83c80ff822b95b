"""The ingest's driver-level writes (storage/direct.py) over SQLite and PostgreSQL: rows read
back through the ORM exactly as written (UTC datetimes in SQLAlchemy's stored form, JSON
payloads), the same whether a statement listener is attached (SQLite then goes through
SQLAlchemy) or not (the aiosqlite connection itself), a database error is SQLAlchemy's
(the ingest retries on IntegrityError), and large batches are split within the driver's
parameter limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError

from ott_runtime.storage import (
    Database,
    EventQuery,
    NewEvent,
    NewRiskScore,
    NewViolation,
    Store,
    TenantScope,
    ViolationQuery,
)
from ott_runtime.storage.direct import DirectStatements, insert_rows, sqlite_datetime
from ott_runtime.storage.tables import EventRow, RiskScoreRow, UsageRow, ViolationHourRow

ACME = TenantScope("acme")
SEEN: dict[int, list[str] | None] = {}  # store -> the statements a listener saw (or None)
INDIA = timezone(timedelta(hours=5, minutes=30))
AT = datetime(2026, 11, 26, 14, 5, 7, 123456, tzinfo=INDIA)  # 08:35:07.123456 UTC


@pytest.fixture(params=["direct", "listened"])
async def store(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Store]:
    database = Database(database_url)
    await database.migrate()
    statements: list[str] = []
    if request.param == "listened":  # what tracing attaches: every statement must pass it

        def seen(*args: Any) -> None:
            statements.append(args[2])

        event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    store = Store(database)
    await store.directory.upsert_tenant("acme", display_name="Acme", plan="standard")
    SEEN[id(store)] = statements if request.param == "listened" else None
    yield store
    await database.close()


def new_event(event_id: str, payload: dict[str, Any], at: datetime = AT) -> NewEvent:
    return NewEvent(event_id, "ad.impression", at, at, "show-1", payload, None, max_severity=3)


async def test_rows_read_back_as_the_orm_writes_them(store: Store) -> None:
    payload = {"geo": {"country": "DE"}, "n": 1.5, "list": [1, None, "ü"], "flag": True}
    async with store.write(ACME) as data:
        seqs = await data.events.add([new_event("e1", payload), new_event("e2", {})])
        violations = await data.violations.add(
            [
                NewViolation("e1", "ad.impression", "coppa", "r1", "critical", 4, "m", "ref",
                             "show-1", AT)
            ],
            seqs,
        )  # fmt: skip
        await data.usage.add(AT.replace(minute=0, second=0, microsecond=0), events=2)
        await data.usage.add(AT.replace(minute=0, second=0, microsecond=0), events=3, bytes_in=9)
    assert list(seqs) == ["e1", "e2"]
    assert seqs["e1"] < seqs["e2"]
    seen = SEEN[id(store)]
    if seen is not None:  # a listener (tracing) sees the direct statements
        assert any(s.startswith("INSERT INTO events") for s in seen)
        assert any(s.startswith("INSERT INTO violations") for s in seen)
    async with store.read(ACME) as data:
        stored = await data.events.get("e1")
        found = await data.violations.find(ViolationQuery())
    assert stored is not None
    assert stored.occurred_at == AT
    assert stored.occurred_at.tzinfo == UTC
    assert stored.received_at == AT
    assert stored.payload == payload
    assert (stored.seq, stored.max_severity, stored.content_id) == (seqs["e1"], 3, "show-1")
    assert [(v.id, v.seq, v.occurred_at, v.created_at) for v in found] == [
        (violations[0].id, violations[0].seq, AT, violations[0].created_at)
    ]
    assert violations[0].occurred_at.tzinfo == UTC
    async with store.database.session() as session:
        usage = (await session.scalars(select(UsageRow))).one()
        hour = (await session.scalars(select(ViolationHourRow.hour))).all()
        if store.database.is_sqlite:  # the text SQLAlchemy itself writes for the column
            raw = await session.scalar(text("SELECT occurred_at FROM events WHERE event_id = 'e1'"))
            assert raw == "2026-11-26 08:35:07.123456" == sqlite_datetime(AT)
    assert (usage.events, usage.bytes_in, usage.api_calls) == (5, 9, 0)
    assert usage.hour == AT.replace(minute=0, second=0, microsecond=0)
    assert hour == []  # rollups are the pipeline's call, not the repositories'


async def test_a_duplicate_is_sqlalchemys_integrity_error(store: Store) -> None:
    async with store.write(ACME) as data:
        await data.events.add([new_event("e1", {})])
    with pytest.raises(IntegrityError):
        async with store.write(ACME) as data:
            await data.events.add([new_event("e2", {}), new_event("e1", {})])
    async with store.read(ACME) as data:  # the failed batch left nothing behind
        assert [row.event_id for row in await data.events.find(EventQuery())] == ["e1"]


async def test_naive_datetimes_and_unknown_counters_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        async with store.write(ACME) as data:
            await data.events.add([new_event("e1", {}, at=datetime(2026, 1, 1))])
    with pytest.raises(ValueError, match="no usage counter"):
        async with store.write(ACME) as data:
            await data.usage.add(AT, events=1, viewers=2)


async def test_a_batch_over_the_parameter_limit_is_split(store: Store) -> None:
    rows = [(f"k{n}", n) for n in range(17_000)]  # 34,001 parameters on SQLite
    async with store.database.transaction() as session:
        await session.execute(text("CREATE TABLE split_check (t VARCHAR, k VARCHAR, n INTEGER)"))
        statements = await DirectStatements.of(session)
        returned = await insert_rows(
            statements, "split_check", ("k", "n"), ("varchar", "integer"), rows,
            shared={"t": "acme"}, tail="RETURNING k, n",
        )  # fmt: skip
        stored = (await session.execute(text("SELECT t, k, n FROM split_check"))).all()
    assert sorted(returned, key=lambda row: row[1]) == rows
    assert sorted((tuple(row) for row in stored), key=lambda row: row[2]) == [
        ("acme", k, n) for k, n in rows
    ]


async def test_orm_rows_and_direct_rows_agree(store: Store) -> None:
    """A row inserted through the ORM (UTCDateTime's own bind) and one through the direct
    path compare equal on the stored datetime: range filters see both."""
    async with store.database.transaction() as session:
        session.add(
            EventRow(
                tenant_id="acme", event_id="orm", type="ad.impression", occurred_at=AT,
                received_at=AT, content_id=None, max_severity=None, payload={}, key_version=None,
            )
        )  # fmt: skip
    async with store.write(ACME) as data:
        await data.events.add([new_event("direct", {})])
    async with store.read(ACME) as data:
        exact = await data.events.find(EventQuery(since=AT, until=AT + timedelta(microseconds=1)))
    assert sorted(row.event_id for row in exact) == ["direct", "orm"]


async def test_risk_scores_return_their_ids_in_order(store: Store) -> None:
    async with store.write(ACME) as data:
        seqs = await data.events.add([new_event("e1", {}), new_event("e2", {})])
        first = await data.risk.add(
            [NewRiskScore("e2", 0.9, "m@1", {"why": ["a"]}), NewRiskScore("e1", 0.1, "m@1", {})],
            seqs,
            AT,
        )
    async with store.write(ACME) as data:  # e2 scored again later (the series scorer)
        again = await data.risk.add([NewRiskScore("e2", 0.5, "series@1", {})], seqs, AT)
    async with store.read(ACME) as data:
        rows = await data.risk.for_events(["e1", "e2"])
    async with store.database.session() as session:
        stored = {
            row.id: (row.event_id, row.score, row.explanation, row.created_at)
            for row in await session.scalars(select(RiskScoreRow))
        }
    assert stored[first[0]] == ("e2", 0.9, {"why": ["a"]}, AT)
    assert stored[first[1]] == ("e1", 0.1, {}, AT)
    assert again[0] not in first
    assert stored[again[0]][:2] == ("e2", 0.5)
    assert rows["e1"].id == first[1]
