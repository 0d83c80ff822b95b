"""A failed batch leaves the aggregate windows as it found them without reading stored
history; a batch whose commit failed is kept or undone by whether its events are stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ott_runtime.crypto import KeyStore
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.tenant import ComplianceTenant
from ott_runtime.ingest import IngestPipeline, TenantRegistry
from ott_runtime.ingest.rules import runtime_for_tenant
from ott_runtime.ingest.schemas import event_validators
from ott_runtime.storage import Database, Store, TenantData, TenantScope
from ott_runtime.storage.database import sqlite_url
from ott_runtime.storage.housekeeping import UsageRepository
from ott_runtime.storage.repositories import EventRepository

ACME = TenantScope("acme")
NOW = datetime.now(UTC).replace(microsecond=0)
REGULATION = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "ads"},
    "spec": {
        "jurisdiction": "EU",
        "version": "1",
        "aggregates": [
            {
                "name": "adSeconds",
                "of": "ad.impression",
                "field": "ad.durationSeconds",
                "fn": "sum",
                "window": "1h",
                "groupBy": ["content.channelId"],
            }
        ],
        "rules": [
            {
                "id": "ad-time-limit",
                "severity": "medium",
                "appliesTo": ["ad.impression"],
                "when": "aggregates.adSeconds > 60",
                "message": "over 60 s of ads in an hour",
                "reference": "test",
            }
        ],
    },
}


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[IngestPipeline]:
    database = Database(sqlite_url(tmp_path / "p.db"))
    await database.migrate()
    store = Store(database)
    await store.directory.upsert_tenant("acme", display_name="Acme", plan="standard")
    tenant = ComplianceTenant.model_validate(
        {
            "apiVersion": "compliance.ott.dev/v1alpha1",
            "kind": "ComplianceTenant",
            "metadata": {"name": "acme"},
            "spec": {"displayName": "Acme", "regulations": [{"name": "ads"}]},
        }
    )
    keys = KeyStore.from_directory(tmp_path / "keys", ["acme"], create_missing=True)
    runtime = runtime_for_tenant(tenant, {"ads": RegulationSet.model_validate(REGULATION)}, keys)
    yield IngestPipeline(store, TenantRegistry([runtime]), event_validators())
    await database.close()


@pytest.fixture
def history_reads(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Every replay of stored history (the windows' rebuild reads it with latest_since)."""
    calls: list[datetime] = []
    original = EventRepository.latest_since

    async def spy(self: EventRepository, since: datetime, limit: int) -> Any:
        calls.append(since)
        return await original(self, since, limit)

    monkeypatch.setattr(EventRepository, "latest_since", spy)
    return calls


def _ad(event_id: str, seconds: int, minute: int = 0) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": (NOW - timedelta(minutes=30 - minute)).isoformat(),
        "content": {"id": "show-1", "channelId": "kids-1"},
        "ad": {"durationSeconds": seconds},
    }


async def _ingest(pipeline: IngestPipeline, *events: dict[str, Any]) -> list[str]:
    result = await pipeline.ingest_body(ACME, orjson.dumps({"events": list(events)}))
    return [v["ruleId"] for v in result.violations]


def _ad_seconds(pipeline: IngestPipeline) -> Any:
    probe = {"type": "ad.impression", "time": NOW.isoformat(), "content": {"channelId": "kids-1"}}
    return pipeline.tenants["acme"].windows.observe(probe)["ads"]["adSeconds"]


def _break_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last write of the batch's transaction fails (after the windows were fed)."""

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("connection lost")

    monkeypatch.setattr(UsageRepository, "add", broken)


async def test_a_failed_batch_is_undone_without_reading_history(
    pipeline: IngestPipeline, monkeypatch: pytest.MonkeyPatch, history_reads: list[datetime]
) -> None:
    assert await _ingest(pipeline, _ad("a", 40)) == []
    with monkeypatch.context() as broken:
        _break_usage(broken)
        with pytest.raises(RuntimeError, match="connection lost"):
            await _ingest(pipeline, _ad("b", 30, minute=1))
    # 40 + 15: the failed 30 s were never committed and count nowhere
    assert await _ingest(pipeline, _ad("c", 15, minute=2)) == []
    assert await _ingest(pipeline, _ad("b", 30, minute=1)) == ["ad-time-limit"]  # the retry
    assert _ad_seconds(pipeline) == 85.0
    assert history_reads == []  # no replay: not at the failure, not before the next batch


async def test_a_batch_whose_commit_failed_after_storing_is_kept(
    pipeline: IngestPipeline, monkeypatch: pytest.MonkeyPatch, history_reads: list[datetime]
) -> None:
    await _ingest(pipeline, _ad("a", 40))
    original = Store.write

    @asynccontextmanager
    async def committed_then_lost(self: Store, scope: TenantScope) -> AsyncIterator[TenantData]:
        async with original(self, scope) as data:
            yield data
        raise ConnectionResetError("connection lost after COMMIT")

    with monkeypatch.context() as lost:
        lost.setattr(Store, "write", committed_then_lost)
        with pytest.raises(ConnectionResetError):
            await _ingest(pipeline, _ad("b", 30, minute=1))
    async with pipeline.store.read(ACME) as data:
        assert await data.events.existing_ids(["b"]) == {"b"}
    retried = await pipeline.ingest_body(ACME, orjson.dumps({"events": [_ad("b", 30, 1)]}))
    assert retried.duplicates == ["b"]
    assert _ad_seconds(pipeline) == 70.0  # b counted once: kept at the failure, not again
    assert history_reads == []


async def test_a_commit_in_doubt_is_settled_before_the_next_batch(
    pipeline: IngestPipeline, monkeypatch: pytest.MonkeyPatch, history_reads: list[datetime]
) -> None:
    await _ingest(pipeline, _ad("a", 40))
    original_write, original_lookup = Store.write, EventRepository.existing_ids
    lookups: list[list[str]] = []

    @asynccontextmanager
    async def rolled_back(self: Store, scope: TenantScope) -> AsyncIterator[TenantData]:
        async with original_write(self, scope) as data:
            yield data
            raise ConnectionResetError("connection lost during COMMIT")  # rolls back

    async def unreachable_once(self: EventRepository, event_ids: Any) -> set[str]:
        lookups.append(list(event_ids))
        if len(lookups) == 2:  # the look-up right after the failure: the database is down
            raise ConnectionRefusedError("database unreachable")
        return await original_lookup(self, event_ids)

    monkeypatch.setattr(EventRepository, "existing_ids", unreachable_once)
    with monkeypatch.context() as lost:
        lost.setattr(Store, "write", rolled_back)
        with pytest.raises(ConnectionResetError):
            await _ingest(pipeline, _ad("b", 30, minute=1))
    assert pipeline.tenants["acme"].windows_in_doubt is not None
    assert await _ingest(pipeline, _ad("c", 15, minute=2)) == []  # 40 + 15: b was undone
    assert lookups[2] == ["b"]  # settled first, by b's id alone
    assert pipeline.tenants["acme"].windows_in_doubt is None
    assert _ad_seconds(pipeline) == 55.0
    assert history_reads == []
