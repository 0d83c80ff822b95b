"""The contract between the operator and the runtime, spelled once.

The operator writes each tenant's objects into the cluster; the runtime reads them back (a
dedicated tenant's pods through mounted volumes, the shared pool through ``ottc pool-sync``).
Both sides import from here the names they must agree on: the custom resources, the labels
and field manager that mark the operator's objects, the names of a pooled tenant's objects,
and the keys inside their ConfigMap and Secrets, which become the file names the runtime
reads. Nothing else spells them.
"""

from __future__ import annotations

from typing import Final

# The custom resources (crds/ holds their definitions).
API_GROUP: Final = "compliance.ott.dev"
API_VERSION: Final = "v1alpha1"
TENANT_KIND: Final = "ComplianceTenant"
TENANT_PLURAL: Final = "compliancetenants"
REGULATION_SET_KIND: Final = "RegulationSet"
REGULATION_SET_PLURAL: Final = "regulationsets"

# Server-side apply's field manager; also the managed-by label's value on every object the
# operator makes, which is how the runtime tells the operator's objects from others.
FIELD_MANAGER: Final = "ott-compliance-operator"
MANAGED_BY: Final = "app.kubernetes.io/managed-by"
TENANT_LABEL: Final = f"{API_GROUP}/tenant"

# The ConfigMap (``tenant-config``, pooled ``<tenant>-config``): the resolved rules and the
# runtime's settings of the tenant. ``tenant.json`` is what makes a folder a tenant's.
RULES_FILE: Final = "rules.json"
TENANT_FILE: Final = "tenant.json"
# The keyring Secret (``tenant-keys``, pooled ``<tenant>-keys``).
KEYRING_FILE: Final = "keyring.json"
# The API key Secret (``tenant-api-key``, pooled ``<tenant>-api-key``), also Kong's
# key-auth credential.
API_KEY_FILE: Final = "key"

# A pooled tenant's objects share the pool namespace: each is named ``<tenant><suffix>``.
CONFIG_SUFFIX: Final = "-config"
KEYS_SUFFIX: Final = "-keys"
API_KEY_SUFFIX: Final = "-api-key"


def managed_selector(tenant: str | None = None) -> str:
    """Label selector for the operator's per-tenant objects: of ``tenant``, or with None of
    every tenant (those carrying a tenant label at all)."""
    selector = f"{MANAGED_BY}={FIELD_MANAGER},{TENANT_LABEL}"
    return f"{selector}={tenant}" if tenant else selector
