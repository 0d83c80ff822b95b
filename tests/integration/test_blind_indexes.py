"""Blind indexes over SQLite and PostgreSQL: the bucketed layout finds a digest's events in
every bucket and in seq order (pages, another tenant's and another field's rows left out),
retention removes them with their events (by bucket: the rows have no foreign key), and
migrations 0004 and 0005 convert the rows stored in the old layouts (hex text under a field
path; 4,096-event buckets) so that the same lookups find them, and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ott_runtime.crypto import FieldCipher
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.storage import Database, EventQuery, NewEvent, Store, TenantScope
from ott_runtime.storage.blind_indexes import add_blind_indexes, bucket_of
from ott_runtime.storage.database import _alembic_config
from ott_runtime.storage.direct import DirectStatements
from ott_runtime.storage.scope import table_of
from ott_runtime.storage.tables import BLIND_INDEX_BUCKET_BITS, BlindIndexRow, EventRow

ACME, GLOBEX = TenantScope("acme"), TenantScope("globex")
AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BUCKET = 1 << BLIND_INDEX_BUCKET_BITS
OLD_LAYOUT_INSERT = text(  # revision 0003's table
    "INSERT INTO event_blind_indexes (tenant_id, field_path, digest, event_seq) "
    "VALUES (:tenant, :path, :digest, :seq)"
)
CIPHERS = {t: FieldCipher(KeyRing.generate(t)) for t in ("acme", "globex")}


def digest(tenant: str, path: str, value: str) -> bytes:
    return CIPHERS[tenant].blind_index(path, value)


def event(event_id: str, indexes: dict[str, bytes], *, at: datetime = AT) -> NewEvent:
    return NewEvent(event_id, "playback.start", at, at, None, {}, 1, blind_indexes=indexes)


async def seqs_of(store: Store, scope: TenantScope, query: EventQuery) -> list[int]:
    async with store.read(scope) as data:
        return [row.seq for row in await data.events.find(query)]


async def place_events(session: AsyncSession, tenants_by_seq: dict[int, str]) -> None:
    """Events under chosen seqs (the sequence is moved past them, as an insert would)."""
    for seq, tenant in tenants_by_seq.items():
        await session.execute(
            insert(table_of(EventRow)).values(
                seq=seq, tenant_id=tenant, event_id=f"e{seq}", type="playback.start",
                occurred_at=AT, received_at=AT, payload={}, key_version=1,
            )
        )  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT setval(pg_get_serial_sequence('events', 'seq'), max(seq)) FROM events")
        )


async def _store_with_tenants(database: Database) -> Store:
    store = Store(database)
    for tenant in ("acme", "globex"):
        await store.directory.upsert_tenant(tenant, display_name=tenant, plan="standard")
    return store


async def test_lookups_walk_every_bucket_in_seq_order(database_url: str) -> None:
    database = Database(database_url)
    await database.migrate()
    try:
        store = await _store_with_tenants(database)
        kid = digest("acme", "viewer.id", "kid-7")
        # events with chosen seqs, so that the digest's rows lie in buckets 0, 1, 3 and 9,
        # with empty buckets between them and another tenant's rows in bucket 2
        placed = {1: "acme", BUCKET + 5: "acme", 2 * BUCKET: "globex", 3 * BUCKET: "acme",
                  9 * BUCKET + 1: "acme", 9 * BUCKET + 2: "acme"}  # fmt: skip
        async with database.transaction() as session:
            await place_events(session, placed)
            statements = await DirectStatements.of(session)
            rows = [(kid, s) for s, t in placed.items() if t == "acme"][:-1]
            other_field = (digest("acme", "viewer.email", "kid-7"), 9 * BUCKET + 2)
            await add_blind_indexes(statements, "acme", [*rows, other_field])
            same_value = digest("globex", "viewer.id", "kid-7")  # another tenant's key: differs
            await add_blind_indexes(statements, "globex", [(same_value, 2 * BUCKET)])
        assert same_value != kid
        assert sorted({bucket_of(s) for s in placed}) == [0, 1, 2, 3, 9]

        found = await seqs_of(store, ACME, EventQuery(blind_index=("viewer.id", kid)))
        assert found == [1, BUCKET + 5, 3 * BUCKET, 9 * BUCKET + 1]
        page = EventQuery(blind_index=("viewer.id", kid), after_seq=BUCKET + 5, limit=1)
        assert await seqs_of(store, ACME, page) == [3 * BUCKET]
        by_email = ("viewer.email", digest("acme", "viewer.email", "kid-7"))
        assert await seqs_of(store, ACME, EventQuery(blind_index=by_email)) == [9 * BUCKET + 2]
        # globex's own row is found by globex's digest, never by acme's
        assert await seqs_of(store, GLOBEX, EventQuery(blind_index=("viewer.id", kid))) == []
        globex_query = EventQuery(blind_index=("viewer.id", same_value))
        assert await seqs_of(store, GLOBEX, globex_query) == [2 * BUCKET]
        other_value = ("viewer.id", digest("acme", "viewer.id", "kid-8"))
        assert await seqs_of(store, ACME, EventQuery(blind_index=other_value)) == []
    finally:
        await database.close()


async def test_retention_removes_the_rows_of_removed_events(database_url: str) -> None:
    database = Database(database_url)
    await database.migrate()
    try:
        store = await _store_with_tenants(database)
        old, new = AT - timedelta(days=30), AT
        kid = digest("acme", "viewer.id", "kid-7")
        ip = digest("acme", "device.ip", "10.0.0.1")
        async with store.write(ACME) as data:
            await data.events.add(
                [
                    event("old", {"viewer.id": kid, "device.ip": ip}, at=old),
                    event("new", {"viewer.id": kid}, at=new),
                ]
            )
        async with store.write(ACME) as data:
            removed = await data.retention.purge(AT - timedelta(days=1), AT - timedelta(days=1))
        assert removed["blindIndexes"] == 2
        async with store.read(ACME) as data:
            found = await data.events.find(EventQuery(blind_index=("viewer.id", kid)))
        assert [row.event_id for row in found] == ["new"]
        async with database.session() as session:
            left = (await session.scalars(select(BlindIndexRow.digest))).all()
        assert left == [kid]
    finally:
        await database.close()


async def test_migration_converts_the_stored_rows(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0003"))
        store = await _store_with_tenants(database)
        kid = digest("acme", "viewer.id", "kid-7")
        ip = digest("acme", "device.ip", "10.0.0.1")
        async with database.transaction() as session:
            await place_events(session, dict.fromkeys((1, 2, BUCKET + 3), "acme"))
            old_rows = [("viewer.id", kid.hex(), 1), ("device.ip", ip.hex(), 1),
                        ("viewer.id", kid.hex(), BUCKET + 3),
                        ("viewer.id", "not-a-digest", 2)]  # fmt: skip
            for path, value, seq in old_rows:
                await session.execute(
                    OLD_LAYOUT_INSERT, {"tenant": "acme", "path": path, "digest": value, "seq": seq}
                )
        await database.migrate()

        assert await seqs_of(store, ACME, EventQuery(blind_index=("viewer.id", kid))) == [
            1,
            BUCKET + 3,
        ]
        assert await seqs_of(store, ACME, EventQuery(blind_index=("device.ip", ip))) == [1]
        async with database.session() as session:
            stored = {
                (row.bucket, row.digest, row.event_seq)
                for row in await session.scalars(select(BlindIndexRow))
            }
        assert stored == {(0, kid, 1), (0, ip, 1), (1, kid, BUCKET + 3)}  # the non-hex row left
        # rows written after the migration are found beside the converted ones
        async with store.write(ACME) as data:
            seqs = await data.events.add([event("after", {"viewer.id": kid})])
        found = await seqs_of(store, ACME, EventQuery(blind_index=("viewer.id", kid)))
        assert found == [1, BUCKET + 3, seqs["after"]]

        # down again: the old layout with the hex digests (not their field path), then up
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "0003"))
            back = await connection.exec_driver_sql(
                "SELECT field_path, digest, event_seq FROM event_blind_indexes"
            )
            assert sorted(back.all()) == sorted(
                [
                    ("", kid.hex(), 1),
                    ("", ip.hex(), 1),
                    ("", kid.hex(), BUCKET + 3),
                    ("", kid.hex(), seqs["after"]),
                ]
            )
        await database.migrate()
        found = await seqs_of(store, ACME, EventQuery(blind_index=("viewer.id", kid)))
        assert found == [1, BUCKET + 3, seqs["after"]]
        if not database.is_sqlite:  # the constraints keep their usual names through it all
            async with database.session() as session:
                names = await session.scalars(
                    text(
                        "SELECT conname FROM pg_constraint "
                        "WHERE conrelid = 'event_blind_indexes'::regclass"
                    )
                )
                assert sorted(names) == ["event_blind_indexes_pkey"]
    finally:
        await database.close()
