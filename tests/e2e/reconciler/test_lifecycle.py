"""Propagation, rotation, drift, spec changes, deletion: the operator over time.

Each test brings its own tenants (and sets), so the tests do not depend on each other.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ott_runtime.domain.keyring import KeyRing


def tenant_document(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {"displayName": name, "regulations": [{"name": "gdpr"}], **spec},
    }


def rule_set(
    name: str, limit: int, *, when: str = "event.ad.durationSeconds > params.limit"
) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "RegulationSet",
        "metadata": {"name": name},
        "spec": {
            "jurisdiction": "EU",
            "version": "1",
            "parameters": {"limit": limit},
            "rules": [
                {
                    "id": "ad-too-long",
                    "severity": "low",
                    "appliesTo": ["ad.impression"],
                    "when": when,
                    "message": "ad too long",
                    "reference": "test 1",
                }
            ],
        },
    }


def rules_of(cluster: Any, namespace: str, config_map: str) -> dict[str, Any]:
    found = cluster.get("configmap", config_map, namespace)
    return json.loads(found["data"]["rules.json"]) if found else {}


def test_regulation_set_change_reaches_every_tenant_using_it(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    stage.apply(rule_set("propagation", 30))
    stage.apply(
        tenant_document("prop-a", isolation="pooled", regulations=[{"name": "propagation"}])
    )
    stage.apply(
        tenant_document(
            "prop-b",
            storage={"mode": "external", "databaseSecretRef": {"name": "db", "key": "url"}},
            regulations=[{"name": "propagation"}],
        )
    )
    for name in ("prop-a", "prop-b"):
        stage.wait_condition(name, "RegulationsResolved", "True")
    digest_before = stage.get("deployment", "scoring", "ottc-prop-b")["spec"]["template"][
        "metadata"
    ]["annotations"]

    stage.apply(rule_set("propagation", 45))

    def limit(namespace: str, config_map: str) -> Any:
        regulations = rules_of(stage, namespace, config_map).get("regulations") or [{}]
        return regulations[0].get("parameters", {}).get("limit") == 45

    wait_for(lambda: limit("ottc-pool", "prop-a-config"), timeout=15, what="prop-a config")
    wait_for(lambda: limit("ottc-prop-b", "tenant-config"), timeout=15, what="prop-b config")
    # the rules changed, so the pods must roll out: a new digest in the pod template
    after = stage.get("deployment", "scoring", "ottc-prop-b")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert after != digest_before
    status = stage.get("regulationset", "propagation")["status"]
    assert status["usedBy"] == ["prop-a", "prop-b"]
    assert status["ruleCount"] == 1


def test_rotation_on_request_keeps_old_keys_for_decryption(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    stage.apply(tenant_document("rotor-request", isolation="pooled"))
    stage.wait_condition("rotor-request", "KeysReady", "True")
    first = KeyRing.from_secret_data(stage.get("secret", "rotor-request-keys", "ottc-pool")["data"])

    stage.access.kubectl(
        "annotate", "ctenant", "rotor-request", "compliance.ott.dev/rotate-keys=req-1"
    )

    def rotated_to(version: int) -> Any:
        keys = (stage.tenant("rotor-request")["status"] or {}).get("keys") or {}
        return keys.get("activeVersion") == version and keys

    keys = wait_for(lambda: rotated_to(2), timeout=15, what="rotation to version 2")
    ring = KeyRing.from_secret_data(stage.get("secret", "rotor-request-keys", "ottc-pool")["data"])
    assert ring.primary_version == 2
    assert ring.key(1).material == first.primary.material  # old key kept, decrypt-only
    assert [v["state"] for v in keys["versions"]] == ["decrypt-only", "primary"]
    events = [e["reason"] for e in stage.events("rotor-request")]
    assert "KeysRotated" in events

    # the same request token is served once: several drift intervals later, still version 2
    import time

    time.sleep(8)
    assert stage.tenant("rotor-request")["status"]["keys"]["activeVersion"] == 2
    stage.access.kubectl(
        "annotate",
        "--overwrite",
        "ctenant",
        "rotor-request",
        "compliance.ott.dev/rotate-keys=req-2",
    )
    wait_for(lambda: rotated_to(3), timeout=15, what="rotation to version 3")
    assert (
        len(
            KeyRing.from_secret_data(
                stage.get("secret", "rotor-request-keys", "ottc-pool")["data"]
            ).keys
        )
        == 3
    )


def test_rotation_on_schedule(operator: Any, stage: Any, wait_for: Any) -> None:
    stage.apply(
        tenant_document("rotor-timer", isolation="pooled", encryption={"rotationInterval": "6s"})
    )
    stage.wait_condition("rotor-timer", "KeysReady", "True")

    def version_at_least(version: int) -> Any:
        keys = stage.tenant("rotor-timer")["status"]["keys"]
        return keys["activeVersion"] >= version and keys

    keys = wait_for(lambda: version_at_least(2), timeout=30, what="a timed rotation")
    from datetime import datetime

    last = datetime.fromisoformat(keys["lastRotation"].replace("Z", "+00:00"))
    upcoming = datetime.fromisoformat(keys["nextRotation"].replace("Z", "+00:00"))
    assert (upcoming - last).total_seconds() == 6


def test_no_key_material_in_status_events_or_logs(
    operator: Any, stage: Any, wait_for: Any, example_tenants: list[str]
) -> None:
    secrets: list[str] = []
    for item in stage.items(
        "secrets", "-A", "-l", "app.kubernetes.io/managed-by=ott-compliance-operator"
    ):
        for value in (item.get("data") or {}).values():
            decoded = base64.b64decode(value)
            secrets.append(value)
            if item["metadata"]["name"].endswith("keys"):
                ring = KeyRing.from_json(decoded)
                secrets += [base64.b64encode(k.material).decode() for k in ring.keys]
                secrets.append(base64.b64encode(ring.index_key).decode())
            else:
                secrets.append(decoded.decode())
    assert len(secrets) > 10
    surfaces = {
        "tenants": stage.access.kubectl("get", "ctenant", "-o", "json").stdout,
        "events": stage.access.kubectl("get", "events", "-A", "-o", "json").stdout,
        "operator log": operator.log(),
    }
    for where, text in surfaces.items():
        leaked = [s[:6] + "..." for s in secrets if s in text]
        assert not leaked, f"key material in {where}: {leaked}"


def test_drift_is_reverted(
    operator: Any, stage: Any, wait_for: Any, example_tenants: list[str]
) -> None:
    ns = "ottc-acme-stream"
    uid = stage.get("service", "scoring", ns)["metadata"]["uid"]
    stage.access.kubectl("delete", "service", "scoring", "-n", ns)
    stage.access.kubectl(
        "patch",
        "hpa",
        "scoring",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"minReplicas":1,"maxReplicas":4}}',
    )
    stage.access.kubectl(
        "patch",
        "kongplugin",
        "ottc-acme-stream-rate-limit",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"config":{"second":99999}}',
    )

    def restored() -> bool:
        service = stage.get("service", "scoring", ns)
        hpa = stage.get("hpa", "scoring", ns)["spec"]
        plugin = stage.get("kongplugin", "ottc-acme-stream-rate-limit", ns)
        return bool(
            service
            and service["metadata"]["uid"] != uid
            and (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
            and plugin["config"]["second"] == 200
        )

    wait_for(restored, timeout=15, what="drift reverted")
    messages = [e["message"] for e in stage.events("acme-stream") if e["reason"] == "DriftReverted"]
    assert any("Service ottc-acme-stream/scoring (deleted)" in m for m in messages), messages


def test_a_spec_change_touches_only_what_must_change(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    external = {"mode": "external", "databaseSecretRef": {"name": "db", "key": "url"}}
    stage.apply(tenant_document("steady", storage=external))
    stage.wait_condition("steady", "RegulationsResolved", "True")
    before = stage.get("deployment", "scoring", "ottc-steady")

    stage.apply(
        tenant_document(
            "steady",
            storage=external,
            displayName="Steady Renamed",
            gateway={"rateLimit": {"perSecond": 7}},
            scoring={"replicas": {"min": 1, "max": 5}},
        )
    )
    wait_for(
        lambda: (
            stage.get("kongplugin", "ottc-steady-rate-limit", "ottc-steady")["config"]["second"]
            == 7
        ),
        timeout=15,
        what="new rate limit",
    )
    wait_for(
        lambda: stage.get("hpa", "scoring", "ottc-steady")["spec"]["maxReplicas"] == 5,
        timeout=15,
        what="new HPA bound",
    )
    after = stage.get("deployment", "scoring", "ottc-steady")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["template"] == before["spec"]["template"]


def test_deleting_a_tenant_records_usage_then_collects_everything(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    stage.apply(tenant_document("leaving", storage={"mode": "embedded"}))
    stage.wait_condition("leaving", "KeysReady", "True")
    uid = stage.tenant("leaving")["metadata"]["uid"]
    assert stage.get("namespace", "ottc-leaving") is not None

    stage.access.kubectl("delete", "ctenant", "leaving", "--wait=false")
    record = wait_for(
        lambda: stage.get("configmap", f"usage-leaving-{uid[:8]}", "ott-compliance-system"),
        timeout=20,
        what="usage record",
    )
    usage = json.loads(record["data"]["usage.json"])
    assert (usage["tenant"], usage["uid"]) == ("leaving", uid)
    assert "ownerReferences" not in record["metadata"]  # it must outlive the tenant
    wait_for(lambda: stage.tenant("leaving") is None, timeout=20, what="tenant gone")
    wait_for(
        lambda: stage.get("namespace", "ottc-leaving") is None,
        timeout=60,
        what="namespace collected",
    )


def test_suspending_prunes_the_autoscaler_and_scales_to_zero(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    external = {"mode": "external", "databaseSecretRef": {"name": "db", "key": "url"}}
    stage.apply(tenant_document("napping", storage=external))
    stage.wait_condition("napping", "KeysReady", "True")
    assert stage.get("hpa", "scoring", "ottc-napping") is not None

    stage.apply(tenant_document("napping", storage=external, suspended=True))
    wait_for(
        lambda: (
            stage.get("hpa", "scoring", "ottc-napping") is None
            and stage.get("pdb", "scoring", "ottc-napping") is None
        ),
        timeout=15,
        what="HPA and PDB pruned",
    )
    assert stage.get("deployment", "scoring", "ottc-napping")["spec"]["replicas"] == 0
    assert stage.get("cronjob", "model-retrain", "ottc-napping")["spec"]["suspend"] is True
    stage.wait_condition("napping", "ScoringAvailable", "False", "Suspended")
    assert stage.tenant("napping")["status"]["phase"] == "Suspended"
    pruned = [e["message"] for e in stage.events("napping") if e["reason"] == "Pruned"]
    assert any("HorizontalPodAutoscaler ottc-napping/scoring" in m for m in pruned), pruned
