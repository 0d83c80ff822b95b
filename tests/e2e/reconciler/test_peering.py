"""Two replicas with kopf peering do not fight: the lower priority one pauses while the
other serves, and takes over when it leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ott_runtime.domain.keyring import KeyRing


def tenant_document(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {"displayName": name, "isolation": "pooled", "regulations": [{"name": "gdpr"}]},
    }


def test_a_second_replica_waits_then_takes_over(
    operator: Any, stage: Any, wait_for: Any, tmp_path: Path
) -> None:
    standby = type(operator)(
        operator.kubeconfig, operator.settings, tmp_path / "standby.log", priority=50
    )
    standby.start()
    try:
        wait_for(lambda: "Pausing" in standby.log(), timeout=30, what="the standby to pause")
        stage.apply(tenant_document("peer-a"))
        stage.wait_condition("peer-a", "KeysReady", "True")
        assert "peer-a" not in standby.log()  # only the active replica handled it

        operator.stop()  # leaves the peering: the standby resumes at once
        wait_for(lambda: "Resuming" in standby.log(), timeout=30, what="the standby to resume")
        stage.apply(tenant_document("peer-b"))
        stage.wait_condition("peer-b", "KeysReady", "True")
        assert "peer-b" in standby.log()
        # one keyring each, never two writers racing: version 1, as the status says
        for name in ("peer-a", "peer-b"):
            secret = stage.get("secret", f"{name}-keys", "ottc-pool")
            assert KeyRing.from_secret_data(secret["data"]).primary_version == 1
    finally:
        standby.stop()
        if not operator.alive():
            operator.start()
