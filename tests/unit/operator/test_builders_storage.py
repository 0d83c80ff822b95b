from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ott_operator.builders.context import TenantContext
from ott_operator.builders.deployment import deployment
from ott_operator.builders.storage import storage_objects
from ott_operator.builders.tenant import desired_objects
from ott_operator.settings import OperatorSettings

ContextFactory = Callable[..., TenantContext]
EXTERNAL = {"mode": "external", "databaseSecretRef": {"name": "acme-db", "key": "url"}}


def _env(obj: dict[str, Any]) -> dict[str, Any]:
    container = obj["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def _kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in objects]


def test_embedded_is_one_replica_on_a_pvc_recreated_without_hpa(
    make_context: ContextFactory,
) -> None:
    ctx = make_context(
        storage={"mode": "embedded", "size": "2Gi"},
        settings=OperatorSettings(storage_class="fast"),
    )
    (claim,) = storage_objects(ctx)
    assert claim["kind"] == "PersistentVolumeClaim"
    assert claim["metadata"]["name"] == "tenant-data"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "2Gi"}},
        "storageClassName": "fast",
    }
    obj = deployment(ctx)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["strategy"] == {"type": "Recreate"}
    assert _env(obj)["DATABASE_URL"] == {
        "name": "DATABASE_URL",
        "value": "sqlite+aiosqlite:////var/lib/ottc/ottc.db",
    }
    pod = obj["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "tenant-data"}} in pod["volumes"]
    assert {"name": "data", "mountPath": "/var/lib/ottc"} in pod["containers"][0]["volumeMounts"]
    assert "HorizontalPodAutoscaler" not in _kinds(desired_objects(ctx))


def test_external_wires_the_named_secret(make_context: ContextFactory) -> None:
    ctx = make_context(storage=EXTERNAL)
    assert storage_objects(ctx) == []
    assert _env(deployment(ctx))["DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "acme-db", "key": "url"}
    }
    kinds = _kinds(desired_objects(ctx))
    assert "PersistentVolumeClaim" not in kinds
    assert "HorizontalPodAutoscaler" in kinds


def test_managed_creates_a_cloudnativepg_cluster_and_wires_its_app_secret(
    make_context: ContextFactory,
) -> None:
    ctx = make_context(storage={"mode": "managed", "size": "10Gi"}, plan="enterprise")
    (cluster,) = storage_objects(ctx)
    assert (cluster["apiVersion"], cluster["kind"]) == ("postgresql.cnpg.io/v1", "Cluster")
    assert cluster["metadata"]["name"] == "tenant-db"
    assert cluster["metadata"]["namespace"] == "ottc-acme"
    assert cluster["spec"]["instances"] == OperatorSettings().plans["enterprise"].database_instances
    assert cluster["spec"]["storage"] == {"size": "10Gi"}
    assert cluster["spec"]["bootstrap"] == {"initdb": {"database": "ottc", "owner": "ottc"}}
    assert _env(deployment(ctx))["DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "tenant-db-app", "key": "uri"}
    }
    assert "Recreate" not in str(deployment(ctx)["spec"]["strategy"])
