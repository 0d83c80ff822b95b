"""Every label and annotation key the operator writes or reads, spelled once.

The ones the runtime reads back (managed-by, the tenant label, the field manager) are part of
the operator <-> runtime contract and spelled in ``ott_runtime.domain.contract``.
"""

from __future__ import annotations

from ott_runtime.domain import contract
from ott_runtime.domain.contract import API_GROUP

FIELD_MANAGER = contract.FIELD_MANAGER

MANAGED_BY = contract.MANAGED_BY
APP_NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
TENANT = contract.TENANT_LABEL

APP_NAME_VALUE = "ottc"
PART_OF_VALUE = "ott-compliance"

# Pod template annotation: a digest of everything in tenant-config; the Deployment rolls
# out only when it changes.
CONFIG_DIGEST = f"{API_GROUP}/config-digest"
# On a ComplianceTenant: any new value asks for a key rotation now (GitOps-friendly: the
# value is a request token, so the annotation may stay).
ROTATE_KEYS = f"{API_GROUP}/rotate-keys"
# On the tenant-keys Secret: the last rotation request token that was served, written in the
# same apply as the rotated keyring so a crash can never serve one request twice.
ROTATION_REQUEST = f"{API_GROUP}/rotation-request"
# On the Events of a reconcile: its trace id (find the trace in Jaeger).
TRACE_ID = f"{API_GROUP}/trace-id"

KONG_CREDENTIAL = "konghq.com/credential"
KONG_PLUGINS = "konghq.com/plugins"
KONG_STRIP_PATH = "konghq.com/strip-path"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
ISTIO_INJECTION = "istio-injection"
NAMESPACE_NAME = "kubernetes.io/metadata.name"
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"


def tenant_labels(tenant: str, component: str | None = None) -> dict[str, str]:
    """Labels on every object owned by ``tenant``."""
    labels = {
        MANAGED_BY: FIELD_MANAGER,
        PART_OF: PART_OF_VALUE,
        TENANT: tenant,
    }
    if component:
        labels[COMPONENT] = component
    return labels


def scoring_selector(tenant: str) -> dict[str, str]:
    """Selects a dedicated tenant's scoring pods (immutable in the Deployment: keep it small)."""
    return {APP_NAME: APP_NAME_VALUE, COMPONENT: "scoring", TENANT: tenant}


def managed_selector(tenant: str) -> str:
    """Label selector string for everything the operator made for ``tenant``."""
    return contract.managed_selector(tenant)
