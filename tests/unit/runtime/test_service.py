"""The runtime service: windows survive a restart, retention follows each tenant's spec,
and a rotated keyring is picked up without a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from ott_runtime.app import create_app
from ott_runtime.config import standalone_config
from ott_runtime.crypto.sources import write_keyring
from ott_runtime.service import RuntimeService
from ott_runtime.storage import EventQuery, TenantScope, ViolationQuery

REGULATION = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "ads"},
    "spec": {
        "jurisdiction": "EU",
        "version": "1",
        "parameters": {"max": 60},
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
                "id": "too-many-ads",
                "severity": "high",
                "appliesTo": ["ad.impression"],
                "when": "aggregates.adSeconds > params.max",
                "message": "m",
                "reference": "r",
            }
        ],
    },
}


def _tenant(name: str, events: str) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {
            "displayName": name,
            "regulations": [{"name": "ads"}],
            "encryption": {"fields": ["viewer.id"]},
            "retention": {"events": events, "violations": "365d"},
        },
    }


def _ad(event_id: str, seconds: float, at: datetime) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": at.isoformat(),
        "viewer": {"id": "v1"},
        "content": {"id": "show", "channelId": "ch1"},
        "ad": {"durationSeconds": seconds},
    }


def _service(tmp_path: Path) -> RuntimeService:
    config_file = tmp_path / "config.yaml"
    if not config_file.exists():
        documents = [REGULATION, _tenant("short", "1d"), _tenant("long", "30d")]
        config_file.write_text(yaml.safe_dump_all(documents))
    config = standalone_config([config_file], tmp_path / "state")
    for tenant in config.keys.tenants:
        config.keys.source(tenant).poll_interval = 0
    return RuntimeService(
        config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
    )


async def test_aggregate_windows_survive_a_restart(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    first = _service(tmp_path)
    await first.start()
    result = await first.pipeline.ingest_body(
        TenantScope("long"), orjson.dumps([_ad("a1", 50, now - timedelta(minutes=10))])
    )
    assert result.violations == []
    await first.stop()

    second = _service(tmp_path)  # a new process: empty in-memory windows
    await second.start()
    try:
        result = await second.pipeline.ingest_body(
            TenantScope("long"), orjson.dumps([_ad("a2", 20, now)])
        )
        assert [v["ruleId"] for v in result.violations] == ["too-many-ads"]  # 50 + 20 > 60
    finally:
        await second.stop()


async def test_retention_follows_each_tenants_spec(tmp_path: Path) -> None:
    service = _service(tmp_path)
    await service.start()
    now = datetime.now(UTC)
    try:
        for tenant in ("short", "long"):
            batch = [
                _ad(f"{tenant}-old", 70, now - timedelta(days=3)),
                _ad(f"{tenant}-new", 1, now),
            ]
            await service.pipeline.ingest_body(TenantScope(tenant), orjson.dumps(batch))
        removed = await service.purge_expired(now)
        assert removed["short"]["events"] == 1
        assert removed["long"]["events"] == 0
        async with service.store.read(TenantScope("short")) as data:
            assert [e.event_id for e in await data.events.find(EventQuery())] == ["short-new"]
            assert len(await data.violations.find(ViolationQuery())) == 1  # kept for 365d
        async with service.store.read(TenantScope("long")) as data:
            assert len(await data.events.find(EventQuery())) == 2
    finally:
        await service.stop()


async def test_a_rotated_keyring_is_used_without_a_restart(tmp_path: Path) -> None:
    service = _service(tmp_path)
    await service.start()
    api_key = service._api_keys["long"][0]
    app = create_app(service, manage_lifecycle=False)
    headers = {"X-API-Key": api_key}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            now = datetime.now(UTC)
            await client.post(
                "/v1/events", content=orjson.dumps([_ad("k1", 1, now)]), headers=headers
            )
            source = service.keys.source("long")
            write_keyring(source.path, source.keyring.rotate())  # what the operator does
            await client.post(
                "/v1/events", content=orjson.dumps([_ad("k2", 1, now)]), headers=headers
            )
            keys = (await client.get("/v1/keys", headers=headers)).json()
            events = (await client.get("/v1/events", headers=headers)).json()["items"]
    finally:
        await service.stop()
    assert keys["activeVersion"] == 2
    assert {k["version"]: (k["state"], k["encryptedRows"]) for k in keys["keys"]} == {
        1: ("decrypt-only", 1),
        2: ("primary", 1),
    }
    assert [(e["id"], e["keyVersion"], e["event"]["viewer"]["id"]) for e in events] == [
        ("k1", 1, "v1"),
        ("k2", 2, "v1"),
    ]
