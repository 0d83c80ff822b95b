"""The composed object list: dedicated vs pooled, suspension, mesh, labels everywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ott_operator.builders.context import TenantContext
from ott_operator.builders.tenant import PRUNABLE_KINDS, desired_objects
from ott_operator.settings import OperatorSettings

ContextFactory = Callable[..., TenantContext]
EXTERNAL = {"mode": "external", "databaseSecretRef": {"name": "acme-db", "key": "url"}}


def test_dedicated_tenant_gets_its_whole_namespace(make_context: ContextFactory) -> None:
    objects = desired_objects(make_context(storage=EXTERNAL))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "ottc-acme"),
        ("ResourceQuota", "tenant-quota"),
        ("LimitRange", "tenant-limits"),
        ("NetworkPolicy", "tenant-ingress"),
        ("ServiceAccount", "scoring"),
        ("ConfigMap", "tenant-config"),
        ("Secret", "tenant-keys"),
        ("Secret", "tenant-api-key"),
        ("Deployment", "scoring"),
        ("Service", "scoring"),
        ("HorizontalPodAutoscaler", "scoring"),
        ("PodDisruptionBudget", "scoring"),
        ("CronJob", "model-retrain"),
        ("KongConsumer", "ottc-acme"),
        ("KongPlugin", "ottc-acme-key-auth"),
        ("KongPlugin", "ottc-acme-rate-limit"),
        ("Ingress", "ottc-acme"),
    ]
    assert all(o["metadata"].get("namespace", "ottc-acme") == "ottc-acme" for o in objects)


def test_pooled_tenant_gets_data_and_routing_in_the_pool(make_context: ContextFactory) -> None:
    objects = desired_objects(make_context(isolation="pooled"))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "acme-config"),
        ("Secret", "acme-keys"),
        ("Secret", "acme-api-key"),
        ("KongConsumer", "ottc-acme"),
        ("KongPlugin", "ottc-acme-key-auth"),
        ("KongPlugin", "ottc-acme-rate-limit"),
        ("Ingress", "ottc-acme"),
    ]
    assert {o["metadata"]["namespace"] for o in objects} == {"ottc-pool"}


@pytest.mark.parametrize("isolation", ["dedicated", "pooled"])
def test_every_object_carries_the_managed_labels(
    make_context: ContextFactory, isolation: str
) -> None:
    for obj in desired_objects(make_context(isolation=isolation)):
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == (
            "ott-compliance-operator"
        )
        assert obj["metadata"]["labels"]["compliance.ott.dev/tenant"] == "acme"


def test_suspended_tenant_has_no_autoscaler_or_budget(make_context: ContextFactory) -> None:
    kinds = [o["kind"] for o in desired_objects(make_context(storage=EXTERNAL, suspended=True))]
    assert "HorizontalPodAutoscaler" not in kinds
    assert "PodDisruptionBudget" not in kinds
    assert "Deployment" in kinds


def test_mesh_adds_strict_peer_authentication(make_context: ContextFactory) -> None:
    kinds = [o["kind"] for o in desired_objects(make_context(settings=OperatorSettings(mesh=True)))]
    assert kinds[:2] == ["Namespace", "PeerAuthentication"]
    assert "PeerAuthentication" not in [o["kind"] for o in desired_objects(make_context())]


def test_kinds_that_come_and_go_are_prunable_and_data_never_is() -> None:
    kinds = {kind for _, kind in PRUNABLE_KINDS}
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "HTTPRoute"} <= kinds
    assert not kinds & {"PersistentVolumeClaim", "Cluster", "Secret", "Namespace"}
