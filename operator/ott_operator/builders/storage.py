"""Where a tenant's results live, by ``spec.storage.mode``.

embedded: SQLite on a PVC (one replica, strategy Recreate, no HPA: SQLite cannot be shared).
external: the named Secret key holds a PostgreSQL URL.
managed:  a CloudNativePG ``Cluster``; its ``<cluster>-app`` Secret key ``uri`` is the URL.
"""

from __future__ import annotations

from ott_operator import naming
from ott_operator.builders.context import Object, TenantContext
from ott_runtime.domain.tenant import StorageMode

DATA_DIR = "/var/lib/ottc"
SQLITE_FILE = "ottc.db"


def data_volume_claim(ctx: TenantContext) -> Object:
    spec: Object = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": ctx.tenant.spec.storage.size}},
    }
    if ctx.settings.storage_class:
        spec["storageClassName"] = ctx.settings.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": ctx.metadata(naming.DATA_VOLUME, component="storage"),
        "spec": spec,
    }


def database_cluster(ctx: TenantContext) -> Object:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": ctx.metadata(naming.DATABASE_CLUSTER, component="database"),
        "spec": {
            "instances": ctx.plan.database_instances,
            "storage": {"size": ctx.tenant.spec.storage.size},
            "bootstrap": {"initdb": {"database": "ottc", "owner": "ottc"}},
            "enableSuperuserAccess": False,
        },
    }


def storage_objects(ctx: TenantContext) -> list[Object]:
    if ctx.storage_mode is StorageMode.EMBEDDED:
        return [data_volume_claim(ctx)]
    if ctx.storage_mode is StorageMode.MANAGED:
        return [database_cluster(ctx)]
    return []


def database_url_env(ctx: TenantContext) -> Object:
    """The ``DATABASE_URL`` env var of the scoring and retrain containers."""
    mode = ctx.storage_mode
    if mode is StorageMode.EMBEDDED:
        return {"name": "DATABASE_URL", "value": f"sqlite+aiosqlite:///{DATA_DIR}/{SQLITE_FILE}"}
    if mode is StorageMode.EXTERNAL:
        ref = ctx.tenant.spec.storage.database_secret_ref
        assert ref is not None  # the spec model requires it for external
        secret_ref = {"name": ref.name, "key": ref.key}
    else:
        secret_ref = {"name": naming.database_app_secret(naming.DATABASE_CLUSTER), "key": "uri"}
    return {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": secret_ref}}
