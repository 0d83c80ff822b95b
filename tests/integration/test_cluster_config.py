"""The operator-to-runtime contract: the ConfigMap and Secrets the operator's builders make,
mounted as Kubernetes mounts them, are what `ottc serve` reads in a cluster."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson

from ott_operator.builders.config import config_map
from ott_operator.builders.context import TenantContext
from ott_operator.builders.secrets import api_key_secret, keys_secret
from ott_operator.settings import OperatorSettings
from ott_runtime.app import create_app
from ott_runtime.config import cluster_config
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.rules import resolve_rules
from ott_runtime.service import RuntimeService

REPO = Path(__file__).resolve().parents[2]


def _mount(folder: Path, data: dict[str, str], *, secret: bool) -> None:
    """Writes a ConfigMap's or Secret's data as files, the way a volume mount shows them."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in data.items():
        (folder / key).write_bytes(base64.b64decode(value) if secret else value.encode())


async def test_serve_reads_what_the_operator_writes(tmp_path: Path) -> None:
    sets, tenants = load_resources(
        [REPO / "examples" / "regulationsets", REPO / "examples" / "tenants"]
    )
    tenant = tenants["tinytoons"]
    ctx = TenantContext(
        tenant=tenant,
        settings=OperatorSettings(),
        rules_config=resolve_rules(tenant.spec, sets).to_config(),
        keyring=KeyRing.generate(tenant.name),
        api_key="ottc_" + "k" * 43,
    )
    _mount(tmp_path / "config", config_map(ctx)["data"], secret=False)
    _mount(tmp_path / "keys" / tenant.name, keys_secret(ctx)["data"], secret=True)
    _mount(tmp_path / "api-keys" / tenant.name, api_key_secret(ctx)["data"], secret=True)
    env = {
        "OTTC_TENANT": tenant.name,
        "OTTC_CONFIG_DIR": str(tmp_path / "config"),
        "OTTC_KEYS_DIR": str(tmp_path / "keys"),
        "OTTC_API_KEYS_DIR": str(tmp_path / "api-keys"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ottc.db'}",
    }
    config = cluster_config(env)
    (runtime,) = config.runtimes
    assert runtime.name == "tinytoons"
    assert runtime.encrypted_fields == list(tenant.spec.encryption.fields)
    assert runtime.spec.retention == tenant.spec.retention
    service = RuntimeService(
        config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
    )
    await service.start()
    app = create_app(service, manage_lifecycle=False)
    event = {
        "specVersion": "1",
        "id": "c1",
        "type": "ad.impression",
        "time": "2026-11-26T18:00:00Z",
        "viewer": {"id": "kid-1", "isKidsProfile": True, "age": 8},
        "geo": {"country": "US"},
        "content": {"id": "t1", "madeForKids": True},
        "ad": {"id": "a1", "targeted": True, "durationSeconds": 15},
    }
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            headers = {"X-API-Key": ctx.api_key}
            response = await client.post(
                "/v1/events", content=orjson.dumps([event]), headers=headers
            )
            assert response.status_code == 200, response.text
            assert {v["regulation"] for v in response.json()["violations"]} == {"coppa"}
            regulations = (await client.get("/v1/regulations", headers=headers)).json()
            keys = (await client.get("/v1/keys", headers=headers)).json()
    finally:
        await service.stop()
    assert [r["name"] for r in regulations["regulations"]] == [
        r.name for r in tenant.spec.regulations
    ] + ["custom"]
    assert keys["activeVersion"] == 1
