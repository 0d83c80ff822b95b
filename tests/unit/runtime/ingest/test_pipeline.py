"""The ingest pipeline with stand-in rules: validation, idempotency, one transaction,
encryption at rest, the scoring hook, publish-after-commit and usage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ott_runtime.crypto import KeyStore
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest import (
    Hit,
    IngestError,
    IngestPipeline,
    RiskScore,
    ScoringInput,
    TenantRegistry,
    TenantRuntime,
)
from ott_runtime.ingest.schemas import event_validators
from ott_runtime.storage import Database, EventQuery, Store, TenantScope, ViolationQuery
from ott_runtime.storage.database import sqlite_url

ACME = TenantScope("acme")


class LongAdRule:
    """Stands in for compiled CEL: ads longer than 30 s are a violation."""

    def evaluate(self, event: Mapping[str, Any], aggregates: Mapping[str, Any]) -> Sequence[Hit]:
        if event["type"] == "ad.impression" and event["ad"]["durationSeconds"] > 30:
            return [Hit("eu-avmsd", "ad-too-long", "high", 2, "ad too long", "AVMSD Art. 23")]
        return []

    def evaluations_for(self, event_type: str) -> int:
        return 1 if event_type == "ad.impression" else 0

    def health(self) -> list[Any]:
        return []

    def describe(self) -> list[dict[str, Any]]:
        return []


class CountingWindows:
    def __init__(self) -> None:
        self.seen = self.at_begin = 0

    def observe(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        self.seen += 1
        return {"seen": self.seen}

    def begin(self) -> None:
        self.at_begin = self.seen

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        self.seen = self.at_begin


class HalfScorer:
    async def score(self, batch: Sequence[ScoringInput]) -> Sequence[RiskScore | None]:
        return [RiskScore(0.9 if item.rule_hits else 0.1, "test@1") for item in batch]


VALIDATORS = event_validators()


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[IngestPipeline]:
    database = Database(sqlite_url(tmp_path / "p.db"))
    await database.migrate()
    store = Store(database)
    await store.directory.upsert_tenant("acme", display_name="Acme", plan="standard")
    spec = ComplianceTenantSpec.model_validate(
        {
            "displayName": "Acme",
            "encryption": {"fields": ["viewer.id", "viewer.email"], "searchable": ["viewer.id"]},
        }
    )
    keys = KeyStore.from_directory(tmp_path / "keys", ["acme"], create_missing=True)
    runtime = TenantRuntime(
        "acme",
        spec,
        LongAdRule(),
        CountingWindows(),
        keys,
        windows_factory=CountingWindows,
        longest_window=timedelta(days=3650),
    )
    yield IngestPipeline(store, TenantRegistry([runtime]), VALIDATORS, scorer=HalfScorer())
    await database.close()


def _batch(*events: dict[str, Any]) -> bytes:
    return orjson.dumps({"events": list(events)})


def _ad(event_id: str, seconds: int) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T10:00:00Z",
        "ad": {"durationSeconds": seconds},
        "content": {"id": "show-1"},
    }


def _play(event_id: str, viewer: str) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "playback.start",
        "time": "2026-11-26T10:00:00+01:00",
        "viewer": {"id": viewer, "email": f"{viewer}@example.com"},
        "content": {"id": "show-1"},
    }


async def test_accepts_scores_and_stores_in_one_go(pipeline: IngestPipeline) -> None:
    async with pipeline.broker.subscribe("acme") as subscription:
        result = await pipeline.ingest_body(ACME, _batch(_ad("a1", 45), _ad("a2", 10)))
        topics = [subscription.queue.get_nowait().topic for _ in range(subscription.queue.qsize())]
    assert result.accepted == ["a1", "a2"]
    assert [v["ruleId"] for v in result.violations] == ["ad-too-long"]
    assert [r["score"] for r in result.risk] == [0.9, 0.1]
    assert sorted(topics) == ["events", "events", "risk", "risk", "violations"]
    async with pipeline.store.read(ACME) as data:
        (violation,) = await data.violations.find(ViolationQuery())
        assert violation.event_id == "a1"
        assert (await data.events.get("a1")).max_severity == 2  # type: ignore[union-attr]
        assert set(await data.risk.for_events(["a1", "a2"])) == {"a1", "a2"}
        (usage,) = await data.usage.hours(
            datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
        )
    assert (usage.events, usage.rule_evaluations) == (2, 2)


async def test_a_retried_batch_stores_nothing_twice(pipeline: IngestPipeline) -> None:
    first = await pipeline.ingest_body(ACME, _batch(_ad("a1", 45)))
    again = await pipeline.ingest_body(ACME, _batch(_ad("a1", 45), _ad("a3", 45)))
    assert first.accepted == ["a1"]
    assert again.accepted == ["a3"]
    assert again.duplicates == ["a1"]
    async with pipeline.store.read(ACME) as data:
        assert len(await data.events.find(EventQuery())) == 2
        assert len(await data.violations.find(ViolationQuery())) == 2
    windows = pipeline.tenants["acme"].windows
    assert isinstance(windows, CountingWindows)
    assert windows.seen == 2  # the duplicate never reached the aggregates


async def test_protected_fields_are_ciphertext_at_rest_and_filterable(
    pipeline: IngestPipeline,
) -> None:
    await pipeline.ingest_body(ACME, _batch(_play("p1", "kid-7"), _play("p2", "adult-1")))
    cipher = pipeline.tenants["acme"].cipher
    async with pipeline.store.read(ACME) as data:
        row = await data.events.get("p1")
        assert row is not None
        assert cipher.sealed_paths(row.payload) == ["viewer.id", "viewer.email"]
        assert "id" not in row.payload["viewer"]
        assert "kid-7" not in orjson.dumps(row.payload).decode()
        assert row.key_version == cipher.primary_version
        assert cipher.decrypt_document(row.payload, "p1").document["viewer"]["id"] == "kid-7"
        found = await data.events.find(
            EventQuery(blind_index=("viewer.id", cipher.blind_index("viewer.id", "kid-7")))
        )
    assert [e.event_id for e in found] == ["p1"]
    # viewer.email is encrypted but not searchable: one index row per event, viewer.id's
    async with pipeline.store.database.engine.connect() as connection:
        rows = await connection.exec_driver_sql("SELECT digest FROM event_blind_indexes")
        stored = sorted(bytes(r[0]) for r in rows)
    assert stored == sorted(cipher.blind_index("viewer.id", v) for v in ("kid-7", "adult-1"))


@pytest.mark.parametrize(
    ("body", "status", "index", "field"),
    [
        (b"{not json", 400, None, None),
        (_batch(_ad("a1", 1), {**_ad("a2", 1), "type": "nope.event"}), 422, 1, "type"),
        (_batch(_ad("a1", 1), _ad("a1", 2)), 422, 1, "id"),
        (_batch({**_ad("a1", 1), "time": "yesterday"}), 422, 0, "time"),
        (_batch({**_ad("a1", 1), "ad": {"durationSeconds": "long"}}), 422, 0, "ad.durationSeconds"),
        (_batch({**_ad("a1", 1), "ad": {"colour": "red"}}), 422, 0, "ad.colour"),
        (_batch({k: v for k, v in _ad("a1", 1).items() if k != "ad"}), 422, 0, "ad"),
        (_batch(*[_ad(f"a{i}", 1) for i in range(1001)]), 413, 1000, "events"),
        (b"[" + b" " * (1024 * 1024) + b"]", 413, None, None),
    ],
)
async def test_bad_batches_are_refused_whole_with_the_index_and_field(
    pipeline: IngestPipeline, body: bytes, status: int, index: int | None, field: str | None
) -> None:
    await pipeline.ingest_body(ACME, _batch(_ad("kept", 45)))
    with pytest.raises(IngestError) as caught:
        await pipeline.ingest_body(ACME, body)
    assert caught.value.status == status
    if field is not None:
        assert (index, field) in [(p.index, p.field) for p in caught.value.problems]
    async with pipeline.store.read(ACME) as data:  # what was accepted before is untouched
        assert [e.event_id for e in await data.events.find(EventQuery())] == ["kept"]


async def test_a_failed_transaction_publishes_nothing(
    pipeline: IngestPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    async with pipeline.store.read(ACME) as data:
        usage_type = type(data.usage)
    monkeypatch.setattr(usage_type, "add", broken)
    async with pipeline.broker.subscribe("acme") as subscription:
        with pytest.raises(RuntimeError, match="disk full"):
            await pipeline.ingest_body(ACME, _batch(_ad("a1", 45)))
        assert subscription.queue.empty()
    async with pipeline.store.read(ACME) as data:
        assert await data.events.find(EventQuery()) == []
        assert await data.violations.find(ViolationQuery()) == []


async def test_windows_only_ever_count_committed_events(
    pipeline: IngestPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pipeline.ingest_body(ACME, _batch(_ad("a1", 10)))
    async with pipeline.store.read(ACME) as data:
        usage_type = type(data.usage)
    original = usage_type.add

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("connection lost")

    monkeypatch.setattr(usage_type, "add", broken)
    with pytest.raises(RuntimeError):
        await pipeline.ingest_body(ACME, _batch(_ad("a2", 10), _ad("a3", 10)))
    monkeypatch.setattr(usage_type, "add", original)
    await pipeline.ingest_body(ACME, _batch(_ad("a2", 10), _ad("a3", 10)))  # the client retries
    windows = pipeline.tenants["acme"].windows
    assert isinstance(windows, CountingWindows)
    assert windows.seen == 3  # a1, then a2 and a3 once each: the failure was rolled back
