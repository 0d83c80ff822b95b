"""The tenant reconciler against a fake API server (tests/unit/operator/fake_kube.py): a fresh
tenant to Ready, a missing RegulationSet, a rotation that falls due, pruning, and a status
write that loses a race; and the pure status computation on its own. The same reconciler
against the real control plane is in tests/e2e/reconciler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ott_operator.conditions import Condition, ConditionType
from ott_operator.kube import TENANTS
from ott_operator.reconciler.tenant import TenantReconciler
from ott_operator.reconciler.tenant_status import Event, Observations, tenant_status
from ott_operator.settings import OperatorSettings
from ott_runtime.domain.keyring import KeyRing, KeyState
from ott_runtime.domain.tenant import Phase

from .conftest import COMPLIANCE_API, GDPR, tenant_document
from .fake_kube import FakeKube

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMESPACE = "ottc-acme"


def _reconciler(kube: FakeKube) -> TenantReconciler:
    return TenantReconciler(kube, OperatorSettings())


def _tenant(kube: FakeKube) -> dict[str, Any]:
    found = kube.get(COMPLIANCE_API, "ComplianceTenant", "acme")
    assert found is not None
    return found


def _condition(kube: FakeKube, kind: ConditionType) -> dict[str, Any]:
    conditions = _tenant(kube)["status"]["conditions"]
    return next(c for c in conditions if c["type"] == kind.value)


def _keyring(kube: FakeKube) -> KeyRing:
    secret = kube.get("v1", "Secret", "tenant-keys", NAMESPACE)
    assert secret is not None
    return KeyRing.from_secret_data(secret["data"])


def _pods_and_gateway_ready(kube: FakeKube) -> None:
    """What the Deployment controller and the ingress controller would report."""
    kube.report_status(
        "apps/v1",
        "Deployment",
        "scoring",
        NAMESPACE,
        {
            "replicas": 2,
            "availableReplicas": 2,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    )
    kube.report_status(
        "networking.k8s.io/v1",
        "Ingress",
        "ottc-acme",
        NAMESPACE,
        {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}},
    )


def test_a_fresh_tenant_is_provisioned_then_ready_once_its_pods_and_route_are() -> None:
    kube = FakeKube()
    kube.create(tenant_document())
    reconciler = _reconciler(kube)

    first = reconciler.reconcile("acme", [GDPR], now=NOW)
    assert first.phase is Phase.PROVISIONING
    assert first.retry_after is None
    for kind, name in [
        ("Namespace", NAMESPACE),
        ("ConfigMap", "tenant-config"),
        ("Secret", "tenant-keys"),
        ("Secret", "tenant-api-key"),
        ("Deployment", "scoring"),
        ("Ingress", "ottc-acme"),
    ]:
        api_version = {
            "Deployment": "apps/v1",
            "Ingress": "networking.k8s.io/v1",
        }.get(kind, "v1")
        assert kube.has(api_version, kind, name, None if kind == "Namespace" else NAMESPACE)
    status = _tenant(kube)["status"]
    assert status["phase"] == "Provisioning"
    assert status["observedGeneration"] == 1
    assert status["namespace"] == NAMESPACE
    assert status["apiKeySecret"] == f"{NAMESPACE}/tenant-api-key"
    assert status["keys"]["activeVersion"] == 1
    assert status["regulations"] == [{"name": "gdpr", "version": "2016/679", "rules": 1}]
    assert _condition(kube, ConditionType.REGULATIONS_RESOLVED)["status"] == "True"
    assert _condition(kube, ConditionType.SCORING_AVAILABLE)["reason"] == "WaitingForPods"
    assert _condition(kube, ConditionType.GATEWAY_READY)["reason"] == "WaitingForGateway"
    assert _condition(kube, ConditionType.READY)["status"] == "False"
    assert {"KeysCreated", "Applied", "Resolved", "KeyringActive"} <= set(kube.reasons())
    api_key = (kube.get("v1", "Secret", "tenant-api-key", NAMESPACE) or {})["data"]

    _pods_and_gateway_ready(kube)
    kube.events.clear()
    second = reconciler.reconcile("acme", [GDPR], now=NOW + timedelta(minutes=1))
    assert second.phase is Phase.READY
    assert _tenant(kube)["status"]["phase"] == "Ready"
    ready = _condition(kube, ConditionType.READY)
    assert (ready["status"], ready["reason"]) == ("True", "Ready")
    # only what changed is reported: nothing was applied anew, three conditions turned True
    assert sorted(kube.reasons()) == ["AddressPublished", "MinimumReplicasAvailable", "Ready"]
    # the API key and the keyring were read back, not made again
    assert (kube.get("v1", "Secret", "tenant-api-key", NAMESPACE) or {})["data"] == api_key
    assert _keyring(kube).primary_version == 1


def test_a_missing_regulation_set_is_named_and_nothing_is_applied() -> None:
    kube = FakeKube()
    kube.create(tenant_document(regulations=[{"name": "gdpr"}, {"name": "coppa"}]))

    outcome = _reconciler(kube).reconcile("acme", [GDPR], now=NOW)

    assert outcome.phase is Phase.DEGRADED
    assert outcome.retry_after == OperatorSettings().missing_set_retry_seconds
    resolved = _condition(kube, ConditionType.REGULATIONS_RESOLVED)
    assert (resolved["status"], resolved["reason"]) == ("False", "MissingRegulationSet")
    assert "coppa" in resolved["message"]
    assert _tenant(kube)["status"]["phase"] == "Degraded"
    assert list(kube.objects) == [(COMPLIANCE_API, "ComplianceTenant", "", "acme")]
    (missing,) = [e for e in kube.events if e.reason == "MissingRegulationSet"]
    assert missing.warning
    assert "coppa" in missing.message


def test_a_rotation_falls_due_and_keeps_the_old_key_for_decryption() -> None:
    kube = FakeKube()
    kube.create(tenant_document())
    reconciler = _reconciler(kube)
    reconciler.reconcile("acme", [GDPR], now=NOW)
    interval = timedelta(hours=720)  # the default spec.encryption.rotationInterval

    assert not reconciler.keys_need_work("acme", now=NOW + interval - timedelta(seconds=1))
    due = NOW + interval + timedelta(seconds=1)
    assert reconciler.keys_need_work("acme", now=due)

    kube.events.clear()
    reconciler.reconcile("acme", [GDPR], now=due)
    ring = _keyring(kube)
    assert ring.primary_version == 2
    assert [ring.state(k.version) for k in ring.keys] == [KeyState.DECRYPT_ONLY, KeyState.PRIMARY]
    (rotated,) = [e for e in kube.events if e.reason == "KeysRotated"]
    assert "rotation interval passed" in rotated.message
    assert _tenant(kube)["status"]["keys"]["activeVersion"] == 2
    assert not reconciler.keys_need_work("acme", now=due)


def test_an_object_no_longer_desired_is_pruned_and_data_is_kept() -> None:
    kube = FakeKube()
    kube.create(tenant_document())
    reconciler = _reconciler(kube)
    reconciler.reconcile("acme", [GDPR], now=NOW)
    assert kube.has("policy/v1", "PodDisruptionBudget", "scoring", NAMESPACE)

    kube.update_spec(COMPLIANCE_API, "ComplianceTenant", "acme", suspended=True)
    kube.events.clear()
    outcome = reconciler.reconcile("acme", [GDPR], now=NOW)

    assert outcome.phase is Phase.SUSPENDED
    assert not kube.has("policy/v1", "PodDisruptionBudget", "scoring", NAMESPACE)
    (pruned,) = [e for e in kube.events if e.reason == "Pruned"]
    assert f"PodDisruptionBudget {NAMESPACE}/scoring" in pruned.message
    assert kube.has("v1", "Secret", "tenant-keys", NAMESPACE)
    assert kube.has("v1", "ConfigMap", "tenant-config", NAMESPACE)
    assert _tenant(kube)["status"]["observedGeneration"] == 2


def test_a_status_write_that_conflicts_is_retried_with_a_fresh_resource_version() -> None:
    kube = FakeKube()
    kube.create(tenant_document())
    usage = {"period": "2026-03", "events": 12, "apiCalls": 3}

    def usage_timer_gets_in_first() -> None:
        current = _tenant(kube)["metadata"]["resourceVersion"]
        kube.patch_status(TENANTS, "acme", {"usage": usage}, resource_version=current)

    kube.before_status_patch = usage_timer_gets_in_first
    outcome = _reconciler(kube).reconcile("acme", [GDPR], now=NOW)

    assert outcome.phase is Phase.PROVISIONING
    timer, refused, retried = kube.status_patches
    assert timer.status == {"usage": usage}
    # the reconcile's first write carried the version it had read, which the timer's write
    # made stale (409); the retry read the tenant again and carried the new version
    assert refused.resource_version == timer.resource_version
    assert retried.resource_version != refused.resource_version
    status = _tenant(kube)["status"]
    assert status["usage"] == usage  # the other writer's field survives
    assert status["phase"] == "Provisioning"
    # Events come from the write that landed: each transition is posted once
    assert kube.reasons().count("KeysCreated") == 1
    assert kube.reasons().count("Resolved") == 1


def test_every_status_write_carries_the_resource_version_it_was_computed_from() -> None:
    kube = FakeKube()
    kube.create(tenant_document())
    version = _tenant(kube)["metadata"]["resourceVersion"]
    _reconciler(kube).reconcile("acme", [GDPR], now=NOW)
    (write,) = kube.status_patches
    assert write.resource_version == version


def test_tenant_status_is_computed_from_observations_alone() -> None:
    resolved = Condition(ConditionType.REGULATIONS_RESOLVED, True, "Resolved", "compiled 1 rules")
    observed = Observations(
        generation=4,
        conditions={ConditionType.REGULATIONS_RESOLVED: resolved},
        fields={"namespace": NAMESPACE},
        events=[Event(False, "Applied", "created 3 objects")],
        failed="Secret ottc-acme/tenant-keys: the stored keyring cannot be read",
    )

    first = tenant_status(observed, None, now=NOW)
    assert first.changed
    assert first.phase is Phase.ERROR
    assert (first.ready.status, first.ready.reason) == (False, "ReconcileFailed")
    assert first.status["namespace"] == NAMESPACE
    assert first.status["observedGeneration"] == 4
    by_type = {c["type"]: c for c in first.status["conditions"]}
    assert by_type["RegulationsResolved"]["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert [e.reason for e in first.events] == ["Applied", "Resolved", "ReconcileFailed"]

    # against the status it wrote: nothing left to write, and the failure is not repeated
    again = tenant_status(observed, first.status, now=NOW + timedelta(hours=1))
    assert not again.changed
    assert [e.reason for e in again.events] == ["Applied"]


@pytest.mark.parametrize("suspended", [False, True])
def test_a_component_not_observed_counts_as_not_ready(suspended: bool) -> None:
    resolved = Condition(ConditionType.REGULATIONS_RESOLVED, True, "Resolved", "ok")
    observed = Observations(
        generation=1, suspended=suspended, conditions={ConditionType.REGULATIONS_RESOLVED: resolved}
    )
    result = tenant_status(observed, None, now=NOW)
    assert result.ready.status is False
    assert "KeysReady: not evaluated" in result.ready.message
    assert result.phase is (Phase.SUSPENDED if suspended else Phase.PROVISIONING)
