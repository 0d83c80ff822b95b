"""Storage on SQLite: migrations, tenant scoping by construction, usage upserts, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ott_runtime.storage import (
    Database,
    EventQuery,
    NewEvent,
    NewViolation,
    Store,
    TenantScope,
    ViolationQuery,
)
from ott_runtime.storage.database import _alembic_config, head_revision, sqlite_url
from ott_runtime.storage.repositories import EventRepository
from ott_runtime.storage.tables import Base

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    database = Database(sqlite_url(tmp_path / "ottc.db"))
    await database.migrate()
    store = Store(database)
    for tenant in ("acme", "globex"):
        await store.directory.upsert_tenant(tenant, display_name=tenant.title(), plan="standard")
    yield store
    await database.close()


def _event(event_id: str, *, at: datetime = NOW, content: str | None = "c1") -> NewEvent:
    return NewEvent(
        event_id=event_id,
        type="playback.start",
        occurred_at=at,
        received_at=at,
        content_id=content,
        payload={"id": event_id},
        key_version=None,
        blind_indexes={"viewer.id": event_id.encode()},  # a digest is bytes
    )


def _violation(event_id: str, *, at: datetime = NOW) -> NewViolation:
    return NewViolation(
        event_id=event_id,
        event_type="playback.start",
        regulation="coppa",
        rule_id="kids-profile-ads",
        severity="high",
        severity_rank=2,
        message="m",
        reference="COPPA §312.5",
        content_id="c1",
        occurred_at=at,
    )


async def test_migrations_match_the_models_and_run_twice(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "m.db"))
    await database.migrate()
    await database.migrate()  # every start runs it: must be a no-op the second time
    assert await database.current_revision() == head_revision()
    async with database.engine.connect() as connection:
        drift = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
        journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
    assert drift == []
    assert journal == "wal"
    async with database.engine.begin() as connection:  # every migration can be undone
        await connection.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "base"))
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert tables == ["alembic_version"]
    await database.migrate()
    assert await database.current_revision() == head_revision()
    await database.close()


async def test_each_tenant_sees_only_its_own_rows(store: Store) -> None:
    acme, globex = TenantScope("acme"), TenantScope("globex")
    async with store.write(acme) as data:
        seqs = await data.events.add([_event("shared-id"), _event("a-only")])
        await data.violations.add([_violation("shared-id")], seqs)
    async with store.write(globex) as data:
        seqs = await data.events.add([_event("shared-id")])  # same id, other tenant: allowed
    async with store.read(globex) as data:
        assert [e.event_id for e in await data.events.find(EventQuery())] == ["shared-id"]
        assert await data.events.get("a-only") is None
        assert await data.violations.find(ViolationQuery()) == []
        assert await data.events.existing_ids(["a-only", "shared-id"]) == {"shared-id"}
        found = await data.events.find(EventQuery(blind_index=("viewer.id", b"a-only")))
        assert found == []
        assert (
            await data.reports.violation_summary(NOW - timedelta(days=1), NOW + timedelta(1)) == []
        )
    async with store.read(acme) as data:
        violations = await data.violations.find(ViolationQuery())
        assert len(violations) == 1
    async with store.write(globex) as data:
        # acknowledging another tenant's violation by its id finds nothing
        assert (
            await data.violations.acknowledge(violations[0].id, by="x", note=None, at=NOW) is None
        )
    async with store.read(acme) as data:
        assert (await data.violations.get(violations[0].id)).acknowledged_at is None  # type: ignore[union-attr]


def test_a_repository_cannot_be_built_without_a_scope() -> None:
    with pytest.raises(TypeError, match="TenantScope"):
        EventRepository(session=None, scope="acme")  # type: ignore[arg-type]
    for bad in ("", "Acme", "a" * 64, "acme; drop table events"):
        with pytest.raises(ValueError, match="not a tenant name"):
            TenantScope(bad)


async def test_duplicate_event_ids_are_refused_by_the_database(store: Store) -> None:
    async with store.write(TenantScope("acme")) as data:
        await data.events.add([_event("e1")])
    with pytest.raises(Exception, match="UNIQUE"):
        async with store.write(TenantScope("acme")) as data:
            await data.events.add([_event("e2"), _event("e1")])
    async with store.read(TenantScope("acme")) as data:  # the failed batch left nothing behind
        assert [e.event_id for e in await data.events.find(EventQuery())] == ["e1"]


async def test_usage_counters_add_up_per_hour(store: Store) -> None:
    hour = NOW.replace(minute=0)
    for _ in range(3):
        async with store.write(TenantScope("acme")) as data:
            await data.usage.add(hour, events=10, api_calls=1, bytes_in=100)
    async with store.write(TenantScope("acme")) as data:
        await data.usage.add(hour, rule_evaluations=7)
    async with store.read(TenantScope("acme")) as data:
        (row,) = await data.usage.hours(hour, hour + timedelta(hours=1))
    assert (row.events, row.api_calls, row.bytes_in, row.rule_evaluations) == (30, 3, 300, 7)
    assert row.hour == hour


async def test_retention_removes_only_expired_rows_of_the_scoped_tenant(store: Store) -> None:
    old = NOW - timedelta(days=100)
    for tenant in ("acme", "globex"):
        async with store.write(TenantScope(tenant)) as data:
            seqs = await data.events.add([_event("old", at=old), _event("new")])
            await data.violations.add([_violation("old", at=old)], seqs)
    async with store.write(TenantScope("acme")) as data:
        removed = await data.retention.purge(NOW - timedelta(days=90), NOW - timedelta(days=365))
    assert removed["events"] == 1
    assert removed["violations"] == 0  # violations are kept a year
    async with store.read(TenantScope("acme")) as data:
        assert [e.event_id for e in await data.events.find(EventQuery())] == ["new"]
        assert len(await data.violations.find(ViolationQuery())) == 1
    async with store.read(TenantScope("globex")) as data:
        assert len(await data.events.find(EventQuery())) == 2


async def test_api_keys_are_stored_hashed_and_resolve_to_their_tenant(store: Store) -> None:
    key = await store.directory.issue_key("acme")
    assert (await store.directory.authenticate(key)) == TenantScope("acme")
    assert await store.directory.authenticate(key + "x") is None
    async with store.database.engine.connect() as connection:
        stored = [r[0] for r in await connection.exec_driver_sql("SELECT key_hash FROM api_keys")]
    assert key not in stored
    with pytest.raises(ValueError, match="another tenant"):
        await store.directory.register_key("globex", key)
    await store.directory.revoke_key(key)
    assert await store.directory.authenticate(key) is None
