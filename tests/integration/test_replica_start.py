"""Replicas that start side by side on one PostgreSQL database: each migrates the schema and
registers the same tenants and API keys at start-up. None of them may fail, and the rows
must come out once each (the scoring Deployment starts two or more replicas at once)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from ott_runtime.storage import Database, Store, TenantScope
from ott_runtime.storage.database import head_revision
from ott_runtime.storage.tables import ApiKeyRow, TenantRow

from .conftest import PostgresServer

KEY = "ottc_" + "k" * 40
REPLICAS = 6


async def start_replica(store: Store, plan: str) -> None:
    await store.database.migrate()
    await store.directory.upsert_tenant("acme", display_name="Acme", plan=plan)
    await store.directory.register_key("acme", KEY)


async def test_replicas_starting_together_migrate_and_register_once(
    postgres: PostgresServer,
) -> None:
    url = await postgres.create_database()
    stores = [Store(Database(url)) for _ in range(REPLICAS)]
    try:
        await asyncio.gather(*(start_replica(store, "standard") for store in stores))
        assert await stores[0].database.current_revision() == head_revision()
        async with stores[0].database.session() as session:
            assert await session.scalar(select(func.count()).select_from(TenantRow)) == 1
            assert await session.scalar(select(func.count()).select_from(ApiKeyRow)) == 1
        for store in stores:
            assert await store.directory.authenticate(KEY) == TenantScope("acme")

        # a later start with a new plan updates the row instead of failing on it
        await start_replica(stores[1], "premium")
        async with stores[0].database.session() as session:
            assert await session.scalar(select(TenantRow.plan)) == "premium"
    finally:
        for store in stores:
            await store.database.close()
