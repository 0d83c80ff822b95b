"""status.usage: the operator copies a tenant's metered usage from its runtime, and the
deletion finalizer records the latest count. No pods run on this control plane, so a real
`ottc serve` on loopback plays the shared pool (it follows the operator's objects in the pool
namespace, as the chart's pool does) and the operator's `runtimeUrl` points at it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ..runtime_process import serve
from .conftest import POOL_NAMESPACE, RUNTIME_PORT
from .test_lifecycle import tenant_document

pytestmark = pytest.mark.e2e
TENANT = "metered"


def _events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "specVersion": "1",
            "id": f"metered-{i}",
            "type": "ad.impression",
            "time": "2026-11-26T20:00:00Z",
            "viewer": {"id": f"viewer-{i}", "isKidsProfile": False},
            "ad": {"targeted": False, "durationSeconds": 15},
        }
        for i in range(count)
    ]


def test_usage_reaches_status_and_the_final_record(
    operator: Any, stage: Any, wait_for: Any, tmp_path: Path
) -> None:
    stage.apply(tenant_document(TENANT, isolation="pooled", plan="standard"))
    stage.wait_condition(TENANT, "KeysReady", "True")
    secret = stage.get("secret", f"{TENANT}-api-key", POOL_NAMESPACE)
    headers = {"X-API-Key": base64.b64decode(secret["data"]["key"]).decode()}
    folders = {name: tmp_path / name for name in ("config", "keys", "api-keys", "webhooks")}
    env = {
        "OTTC_POOL_NAMESPACE": POOL_NAMESPACE,
        "KUBECONFIG": str(stage.access.kubeconfig),
        "OTTC_CONFIG_DIR": str(folders["config"]),
        "OTTC_KEYS_DIR": str(folders["keys"]),
        "OTTC_API_KEYS_DIR": str(folders["api-keys"]),
        "OTTC_WEBHOOK_SECRETS_DIR": str(folders["webhooks"]),
    }
    with serve(env, tmp_path, port=RUNTIME_PORT) as client:
        wait_for(
            lambda: client.get("/v1/regulations", headers=headers).status_code == 200,
            what="the pool to serve the tenant",
        )
        posted = client.post("/v1/events", json=_events(3), headers=headers)
        assert posted.status_code == 200, posted.text

        def copied() -> dict[str, Any] | None:
            usage: dict[str, Any] = (stage.tenant(TENANT).get("status") or {}).get("usage") or {}
            return usage if usage.get("events") == 3 else None

        usage = wait_for(copied, timeout=30, what="status.usage with 3 events")
        assert usage["period"] == datetime.now(UTC).strftime("%Y-%m")
        assert usage["apiCalls"] >= 2  # the regulations probe and the POST
        assert usage["estimatedCharge"]["plan"] == "standard"
        assert usage["estimatedCharge"]["currency"] == "EUR"

        more = client.post("/v1/events", json=_events(5)[3:], headers=headers)
        assert more.status_code == 200, more.text
        uid = stage.tenant(TENANT)["metadata"]["uid"]
        stage.access.kubectl("delete", "ctenant", TENANT, "--wait=false")
        record = wait_for(
            lambda: stage.get("configmap", f"usage-{TENANT}-{uid[:8]}", "ott-compliance-system"),
            timeout=20,
            what="final usage record",
        )
    # the record holds the latest count, the two events posted just before the deletion too
    final = json.loads(record["data"]["usage.json"])
    assert final["usage"]["events"] == 5
    assert final["usage"]["apiCalls"] >= usage["apiCalls"]
    wait_for(lambda: stage.tenant(TENANT) is None, timeout=20, what="tenant gone")
