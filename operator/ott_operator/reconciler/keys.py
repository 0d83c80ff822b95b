"""A tenant's keys as the cluster holds them: the keyring Secret read and planned (kept,
created or rotated: ``ott_operator.keyplan``), and the API key read back so that re-applying
its Secret never changes it."""

from __future__ import annotations

import base64
from datetime import datetime

from ott_operator import labels
from ott_operator.keyplan import KeyAction, KeyPlan, plan_keys
from ott_operator.kube import KubeAPI, secret_data
from ott_operator.naming import TenantNames
from ott_operator.reconciler.tenant_status import Event
from ott_runtime.domain.contract import API_KEY_FILE
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.tenant import ComplianceTenant


def plan_tenant_keys(
    kube: KubeAPI, tenant: ComplianceTenant, names: TenantNames, now: datetime
) -> KeyPlan:
    """Raises UnreadableKeyring when the stored keyring cannot be read (it is never replaced)."""
    data, annotations = secret_data(kube, names.namespace, names.keys_secret)
    return plan_keys(
        tenant.name,
        data,
        annotations,
        requested=tenant.metadata.annotations.get(labels.ROTATE_KEYS),
        interval=parse_duration(tenant.spec.encryption.rotation_interval),
        now=now,
    )


def stored_api_key(kube: KubeAPI, names: TenantNames) -> str | None:
    """The API key the tenant's Secret holds, None before it exists."""
    data, _ = secret_data(kube, names.namespace, names.api_key_secret)
    if API_KEY_FILE in data:
        return base64.b64decode(data[API_KEY_FILE]).decode()
    return None


def keys_event(plan: KeyPlan) -> Event | None:
    """What a created or rotated keyring is reported as (versions only, never material)."""
    if plan.action is KeyAction.UNCHANGED:
        return None
    reason = "KeysCreated" if plan.action is KeyAction.CREATED else "KeysRotated"
    message = f"keyring {plan.action.value}; active key version {plan.keyring.primary_version}"
    return Event(False, reason, message)
