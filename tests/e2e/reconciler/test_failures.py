"""What goes wrong: missing sets, rules that do not compile, a crash mid-reconcile, and a
verb the operator's role does not grant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ott_runtime.devcluster import ClusterAccess, KubeCommandError
from ott_runtime.domain.keyring import KeyRing

BAD_RULE = {
    "id": "broken-rule",
    "severity": "low",
    "appliesTo": ["ad.impression"],
    "when": "event.ad.durationSeconds >",
    "message": "never",
    "reference": "test 2",
}


def tenant_document(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {"displayName": name, "regulations": [{"name": "gdpr"}], **spec},
    }


def test_missing_regulation_set_degrades_then_recovers(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    stage.apply(tenant_document("late", isolation="pooled", regulations=[{"name": "late-set"}]))
    condition = stage.wait_condition("late", "RegulationsResolved", "False", "MissingRegulationSet")
    assert "late-set" in condition["message"]
    assert stage.tenant("late")["status"]["phase"] == "Degraded"
    assert stage.get("configmap", "late-config", "ottc-pool") is None  # nothing applied

    stage.apply(
        {
            "apiVersion": "compliance.ott.dev/v1alpha1",
            "kind": "RegulationSet",
            "metadata": {"name": "late-set"},
            "spec": {
                "jurisdiction": "EU",
                "version": "1",
                "rules": [{**BAD_RULE, "id": "ok-rule", "when": "event.ad.durationSeconds > 1.0"}],
            },
        }
    )
    stage.wait_condition("late", "RegulationsResolved", "True", "Resolved")
    stage.wait_condition("late", "KeysReady", "True")
    assert stage.get("configmap", "late-config", "ottc-pool") is not None
    assert stage.tenant("late")["status"]["phase"] == "Provisioning"


def test_a_custom_rule_that_does_not_compile_applies_nothing(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    stage.apply(tenant_document("broken-rules", customRules=[BAD_RULE]))
    condition = stage.wait_condition(
        "broken-rules", "RegulationsResolved", "False", "RuleCompileError"
    )
    assert "custom/broken-rule" in condition["message"]
    assert "line 1, column" in condition["message"]
    assert stage.tenant("broken-rules")["status"]["phase"] == "Degraded"
    assert stage.get("namespace", "ottc-broken-rules") is None
    reasons = {e["reason"] for e in stage.events("broken-rules") if e["type"] == "Warning"}
    assert "RuleCompileError" in reasons

    fixed = {**BAD_RULE, "when": "event.ad.durationSeconds > 1.0"}
    stage.apply(tenant_document("broken-rules", customRules=[fixed]))
    stage.wait_condition("broken-rules", "RegulationsResolved", "True", "Resolved")
    assert stage.get("configmap", "tenant-config", "ottc-broken-rules") is not None


def test_kill_9_mid_reconcile_then_restart_converges(
    operator: Any, stage: Any, wait_for: Any
) -> None:
    names = [f"crash-{i}" for i in range(5)]
    documents = "---\n".join(yaml.safe_dump(tenant_document(n)) for n in names)
    stage.access.kubectl("apply", "-f", "-", input=documents)
    # kill as soon as the first objects exist and before every tenant is done
    wait_for(lambda: stage.get("namespace", "ottc-crash-0"), timeout=30, what="first namespace")
    operator.kill9()
    unfinished = [n for n in names if not (stage.tenant(n).get("status") or {}).get("keys")]
    operator.start()
    for name in names:
        stage.wait_condition(name, "KeysReady", "True")
        stage.wait_condition(name, "ScoringAvailable", "False", "WaitingForPods")
        tenant = stage.tenant(name)
        keys = KeyRing.from_secret_data(stage.get("secret", "tenant-keys", f"ottc-{name}")["data"])
        # one keyring, never regenerated: the status and the Secret agree on version 1
        assert keys.primary_version == tenant["status"]["keys"]["activeVersion"] == 1
        assert len(stage.items("deployments", "-n", f"ottc-{name}")) == 1
        assert len(stage.items("replicasets", "-n", f"ottc-{name}")) == 1  # no extra rollout
    print(f"killed with {len(unfinished)} of {len(names)} tenants unfinished")


def test_the_role_refuses_what_the_operator_does_not_need(
    operator_identity: tuple[Path, dict[str, Any]], control_plane: ClusterAccess
) -> None:
    kubeconfig, _ = operator_identity
    as_operator = ClusterAccess(kubeconfig, control_plane.bin_dir, control_plane.server)
    for verb, resource in (
        ("list", "secrets"),
        ("watch", "secrets"),
        ("delete", "namespaces"),
        ("update", "deployments"),
        ("delete", "deployments"),
        ("delete", "secrets"),
        ("create", "clusterrolebindings"),
        ("get", "nodes"),
    ):
        answer = as_operator.kubectl("auth", "can-i", verb, resource, "-A", check=False)
        assert answer.stdout.strip() == "no", (verb, resource)
    refused = as_operator.kubectl("get", "secrets", "-A", check=False)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr.lower()
    with pytest.raises(KubeCommandError, match=r"(?i)forbidden"):
        as_operator.kubectl("delete", "namespace", "ottc-pool", "--wait=false")
    assert (
        as_operator.kubectl("auth", "can-i", "patch", "compliancetenants/status").stdout.strip()
        == "yes"
    )
