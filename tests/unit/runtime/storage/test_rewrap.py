"""`ottc keys rewrap`: rows move to the primary key in resumable batches; bad rows stay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from ott_runtime.cli import cli
from ott_runtime.config import standalone_config
from ott_runtime.crypto.formats import ENVELOPE_KEY
from ott_runtime.crypto.sources import write_keyring
from ott_runtime.service import RuntimeService
from ott_runtime.storage import EventQuery, TenantScope
from ott_runtime.storage.rewrap import pending_rewrap, rewrap_tenant

if TYPE_CHECKING:
    from tests.unit.runtime.conftest import Format1Token

TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "acme"},
    "spec": {
        "displayName": "Acme",
        "customRules": [
            {
                "id": "kids-ads",
                "severity": "high",
                "appliesTo": ["ad.impression"],
                "when": "has(event.viewer.isKidsProfile) && event.viewer.isKidsProfile",
                "message": "ad on a kids profile",
                "reference": "house rule",
            }
        ],
        "encryption": {"fields": ["viewer.id", "viewer.email"]},
    },
}
ACME = TenantScope("acme")


def _events(count: int) -> bytes:
    return orjson.dumps(
        [
            {
                "specVersion": "1",
                "id": f"e{i}",
                "type": "ad.impression",
                "time": "2026-11-26T10:00:00Z",
                "viewer": {"id": f"viewer-{i}", "email": f"v{i}@example.com"},
                "ad": {"durationSeconds": 10},
            }
            for i in range(count)
        ]
    )


async def _service_with_events(tmp_path: Path, count: int) -> tuple[RuntimeService, Path]:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "acme.yaml").write_text(yaml.safe_dump(TENANT))
    config = standalone_config([config_dir], tmp_path / "state")
    for runtime in config.runtimes:  # see rotations at once, not after the poll interval
        runtime.keys.source(runtime.name).poll_interval = 0
    service = RuntimeService(config.database_url, config.runtimes, config.keys)
    await service.start()
    await service.pipeline.ingest_body(ACME, _events(count))
    return service, config_dir


async def test_rewrap_is_resumable_and_leaves_tampered_rows_alone(tmp_path: Path) -> None:
    service, _ = await _service_with_events(tmp_path, 7)
    source = service.keys.source("acme")
    try:
        write_keyring(source.path, source.keyring.rotate())
        cipher = service.keys.cipher("acme")
        assert cipher.primary_version == 2
        async with service.database.engine.begin() as connection:  # break one row
            rows = dict(
                (await connection.execute(text("SELECT event_id, payload FROM events"))).all()
            )
            payload, donor = (
                r if isinstance(r, dict) else json.loads(r) for r in (rows["e3"], rows["e2"])
            )
            payload[ENVELOPE_KEY] = donor[ENVELOPE_KEY]  # another row's sealed fields
            await connection.execute(
                text("UPDATE events SET payload=:p WHERE event_id='e3'"), {"p": json.dumps(payload)}
            )
        assert await pending_rewrap(service.store, ACME, cipher) == 7

        interrupted = await rewrap_tenant(service.store, ACME, cipher, batch_size=2, max_batches=1)
        assert interrupted.rewrapped == 2
        assert await pending_rewrap(service.store, ACME, cipher) == 5  # committed batch stays done

        resumed = await rewrap_tenant(service.store, ACME, cipher, batch_size=2)
        assert resumed.rewrapped == 4
        assert [event_id for event_id, _ in resumed.failed] == ["e3"]
        assert "authentication failed" in resumed.failed[0][1]

        async with service.store.read(ACME) as data:
            rows = {r.event_id: r for r in await data.events.find(EventQuery())}
        assert {e: r.key_version for e, r in rows.items() if r.key_version != 2} == {"e3": 1}
        for event_id, row in rows.items():
            if event_id != "e3":
                opened = cipher.decrypt_document(row.payload, event_id)
                assert opened.errors == []
                assert opened.document["viewer"]["id"] == f"viewer-{event_id[1:]}"
                assert cipher.key_version_of(row.payload) == 2
    finally:
        await service.stop()


async def test_rows_written_in_format_1_become_envelopes_after_rotate_and_rewrap(
    tmp_path: Path, format1_token: Format1Token
) -> None:
    service, _ = await _service_with_events(tmp_path, 3)
    source = service.keys.source("acme")
    try:
        ring = source.keyring
        legacy = {  # e1 as a version before envelopes stored it
            "specVersion": "1", "id": "e1", "type": "ad.impression",
            "time": "2026-11-26T10:00:00Z", "ad": {"durationSeconds": 10},
            "viewer": {
                "id": format1_token(ring, "viewer.id", "viewer-1", "e1"),
                "email": format1_token(ring, "viewer.email", "v1@example.com", "e1"),
            },
        }  # fmt: skip
        async with service.database.engine.begin() as connection:
            await connection.execute(
                text("UPDATE events SET payload=:p WHERE event_id='e1'"), {"p": json.dumps(legacy)}
            )
        write_keyring(source.path, ring.rotate())
        cipher = service.keys.cipher("acme")
        done = await rewrap_tenant(service.store, ACME, cipher)
        assert (done.rewrapped, done.failed) == (3, [])
        async with service.store.read(ACME) as data:
            row = await data.events.get("e1")
        assert row is not None
        assert row.key_version == 2
        assert row.payload[ENVELOPE_KEY]["fields"] == ["viewer.id", "viewer.email"]
        assert "viewer-1" not in json.dumps(row.payload)
        opened = cipher.decrypt_document(row.payload, "e1")
        assert opened.errors == []
        assert opened.document["viewer"] == {"id": "viewer-1", "email": "v1@example.com"}
    finally:
        await service.stop()


def test_keys_commands_rotate_rewrap_and_show_status(tmp_path: Path) -> None:
    async def prepare() -> Path:
        service, config_dir = await _service_with_events(tmp_path, 3)
        await service.stop()
        return config_dir

    config_dir = asyncio.run(prepare())  # the commands run their own event loop
    state = ["--config", str(config_dir), "--state-dir", str(tmp_path / "state")]
    runner = CliRunner()
    rotated = runner.invoke(cli, ["keys", "rotate", *state])
    assert rotated.exit_code == 0, rotated.output
    assert "acme: primary key is now version 2" in rotated.output
    before = runner.invoke(cli, ["keys", "status", *state])
    assert before.exit_code == 0, before.output
    assert "decrypt-only" in before.output
    rewrapped = runner.invoke(cli, ["keys", "rewrap", *state, "--batch-size", "2"])
    assert rewrapped.exit_code == 0, rewrapped.output
    assert "acme: 3 row(s) now under key v2" in rewrapped.output
    again = runner.invoke(cli, ["keys", "rewrap", *state])
    assert "acme: 0 row(s)" in again.output
    keyring_text = (tmp_path / "state" / "keys" / "acme.json").read_text()
    material = json.loads(keyring_text)["keys"][0]["material"]
    assert material not in before.output + rewrapped.output
    unknown = runner.invoke(cli, ["keys", "rewrap", *state, "--tenant", "nobody"])
    assert unknown.exit_code != 0
    assert "unknown tenant" in unknown.output
