"""API-call metering: pending calls commit with the tenant's next write or the write-behind
flush, come back when that transaction rolls back, and are never stored twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import event

from ott_runtime.config import standalone_config
from ott_runtime.service import RuntimeService
from ott_runtime.storage import Database, Store, TenantScope
from ott_runtime.storage.database import sqlite_url
from ott_runtime.storage.housekeeping import UsageRepository
from ott_runtime.usage import ApiCallMeter

HOUR = datetime(2026, 11, 26, 12, tzinfo=UTC)
ACME, GLOBEX = TenantScope("acme"), TenantScope("globex")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    database = Database(sqlite_url(tmp_path / "ottc.db"))
    await database.migrate()
    store = Store(database)
    for tenant in ("acme", "globex"):
        await store.directory.upsert_tenant(tenant, display_name=tenant, plan="standard")
    yield store
    await database.close()


async def _stored(store: Store, scope: TenantScope) -> dict[datetime, int]:
    async with store.read(scope) as data:
        rows = await data.usage.hours(HOUR - timedelta(days=1), HOUR + timedelta(days=1))
    return {row.hour.replace(tzinfo=UTC): row.api_calls for row in rows}


async def test_an_ingest_takes_its_tenants_pending_calls(store: Store) -> None:
    meter = ApiCallMeter(store)
    for _ in range(3):
        meter.count("acme", HOUR)
    meter.count("acme", HOUR - timedelta(hours=1))  # an hour that just ended
    meter.count("globex", HOUR)
    async with store.write(ACME) as data:
        taken = await meter.take(data, HOUR)
        await data.usage.add(HOUR, events=1, api_calls=taken)  # what the pipeline writes
    assert taken == 3
    assert (meter.pending("acme"), meter.pending("globex")) == (0, 1)
    assert await _stored(store, ACME) == {HOUR - timedelta(hours=1): 1, HOUR: 3}
    assert await _stored(store, GLOBEX) == {}


async def test_a_rolled_back_write_gives_the_calls_back(store: Store) -> None:
    meter = ApiCallMeter(store)
    meter.count("acme", HOUR)
    meter.count("acme", HOUR + timedelta(hours=1))

    async def failing_write() -> None:
        async with store.write(ACME) as data:
            await data.usage.add(HOUR, api_calls=await meter.take(data, HOUR))
            meter.count("acme", HOUR)  # a call answered meanwhile stays pending too
            raise RuntimeError("e.g. a unique violation of another replica's batch")

    with pytest.raises(RuntimeError, match="unique violation"):
        await failing_write()
    assert meter.pending("acme") == 3
    assert await _stored(store, ACME) == {}
    await meter.flush()
    assert await _stored(store, ACME) == {HOUR: 2, HOUR + timedelta(hours=1): 1}
    assert meter.pending("acme") == 0


async def test_one_flush_is_one_transaction_for_every_tenant(store: Store) -> None:
    meter = ApiCallMeter(store)
    commits: list[object] = []
    event.listen(store.database.engine.sync_engine, "commit", commits.append)
    await meter.flush()  # nothing pending: no write at all
    assert commits == []
    meter.count("acme", HOUR)
    meter.count("acme", HOUR + timedelta(hours=1))
    meter.count("globex", HOUR)
    await meter.flush()
    assert len(commits) == 1
    assert await _stored(store, ACME) == {HOUR: 1, HOUR + timedelta(hours=1): 1}
    assert await _stored(store, GLOBEX) == {HOUR: 1}


async def test_a_failed_flush_keeps_the_calls_for_the_next(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = ApiCallMeter(store)
    meter.count("acme", HOUR)
    meter.count("globex", HOUR)
    real_add = UsageRepository.add
    seen: list[str] = []

    async def failing_on_the_second_tenant(self: UsageRepository, hour: datetime, **c: Any) -> None:
        seen.append(self.tenant_id)
        if c.get("api_calls") and self.tenant_id == "globex":
            raise OSError("disk full")
        await real_add(self, hour, **c)

    monkeypatch.setattr(UsageRepository, "add", failing_on_the_second_tenant)
    with pytest.raises(OSError, match="disk full"):
        await meter.flush()
    assert (meter.pending("acme"), meter.pending("globex")) == (1, 1)  # acme rolled back
    monkeypatch.setattr(UsageRepository, "add", real_add)
    await meter.flush()
    assert await _stored(store, ACME) == {HOUR: 1}
    assert await _stored(store, GLOBEX) == {HOUR: 1}


async def test_an_ingest_batch_commits_its_own_api_call(tmp_path: Path) -> None:
    tenant = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": "acme"},
        "spec": {"displayName": "Acme", "regulations": []},
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(tenant))
    config = standalone_config([config_file], tmp_path / "state")
    service = RuntimeService(config.database_url, config.runtimes, config.keys, meter_interval=3600)
    await service.start()
    try:
        service.meter.count("acme")  # what authentication does for the request
        batch = [{"specVersion": "1", "id": "e1", "type": "playback.start",
                  "time": "2026-11-26T20:00:00Z", "content": {"id": "show-1"}}]  # fmt: skip
        await service.pipeline.ingest_body(ACME, orjson.dumps(batch))
        assert service.meter.pending("acme") == 0  # no flush ran: the batch stored it
        now = datetime.now(UTC)
        async with service.store.read(ACME) as data:
            (row,) = await data.usage.hours(now - timedelta(hours=1), now + timedelta(hours=1))
        assert (row.events, row.api_calls) == (1, 1)
    finally:
        await service.stop()
