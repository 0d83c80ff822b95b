"""Names of everything the operator makes for a tenant, derived in one place.

A dedicated tenant owns a namespace, so its objects have fixed names there
(``tenant-config``, ``scoring``). A pooled tenant shares the pool namespace, so its objects
carry the tenant name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ott_operator.settings import OperatorSettings
from ott_runtime.domain.base import MAX_TENANT_NAME_LENGTH
from ott_runtime.domain.base import TENANT_NAMESPACE_PREFIX as NAMESPACE_PREFIX
from ott_runtime.domain.contract import API_KEY_SUFFIX, CONFIG_SUFFIX, KEYS_SUFFIX
from ott_runtime.domain.tenant import ComplianceTenant, Isolation

SCORING = "scoring"
MODEL_RETRAIN = "model-retrain"
SERVICE_ACCOUNT = "scoring"
DATA_VOLUME = "tenant-data"
DATABASE_CLUSTER = "tenant-db"
PEER_AUTHENTICATION = "default"


def tenant_namespace(tenant: str) -> str:
    """``ottc-<name>``; refuses names that would not fit a namespace."""
    if len(tenant) > MAX_TENANT_NAME_LENGTH:
        raise ValueError(
            f"tenant name {tenant!r} is longer than {MAX_TENANT_NAME_LENGTH} characters: "
            f"its namespace {NAMESPACE_PREFIX}{tenant} would not be a valid name"
        )
    return f"{NAMESPACE_PREFIX}{tenant}"


def database_app_secret(cluster: str) -> str:
    """CloudNativePG writes the application user's credentials to ``<cluster>-app``."""
    return f"{cluster}-app"


def usage_record(tenant: str, uid: str) -> str:
    """ConfigMap holding a deleted tenant's final usage (uid: names are reusable)."""
    return f"usage-{tenant}-{uid[:8]}"


@dataclass(frozen=True)
class TenantNames:
    tenant: str
    dedicated: bool
    namespace: str
    config_map: str
    keys_secret: str
    api_key_secret: str
    service: str
    deployment: str
    consumer: str
    key_auth_plugin: str
    rate_limit_plugin: str
    route: str

    @classmethod
    def of(cls, tenant: ComplianceTenant, settings: OperatorSettings) -> TenantNames:
        name = tenant.name
        if tenant.spec.isolation is Isolation.DEDICATED:
            namespace = tenant_namespace(name)
            config_map, keys, api_key = "tenant-config", "tenant-keys", "tenant-api-key"
            service = deployment = SCORING
        else:
            namespace = settings.pool_namespace
            config_map, keys = name + CONFIG_SUFFIX, name + KEYS_SUFFIX
            api_key = name + API_KEY_SUFFIX
            service = deployment = settings.pool_service
        gateway = f"ottc-{name}"
        return cls(
            tenant=name,
            dedicated=tenant.spec.isolation is Isolation.DEDICATED,
            namespace=namespace,
            config_map=config_map,
            keys_secret=keys,
            api_key_secret=api_key,
            service=service,
            deployment=deployment,
            consumer=gateway,
            key_auth_plugin=f"{gateway}-key-auth",
            rate_limit_plugin=f"{gateway}-rate-limit",
            route=gateway,
        )
