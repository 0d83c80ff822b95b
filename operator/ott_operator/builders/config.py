"""ConfigMap ``tenant-config``: the resolved rules plus the runtime's view of the tenant.

Only what the runtime reads goes in, so that an edit to anything else (display name,
replica bounds, gateway limits, key rotation interval; keys are reloaded from their
Secret without a restart) leaves the digest, and with it the
pod template, unchanged: no needless rollouts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ott_operator.builders.context import Object, TenantContext
from ott_runtime.domain.contract import RULES_FILE, TENANT_FILE


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def runtime_tenant_settings(ctx: TenantContext) -> dict[str, Any]:
    spec = ctx.tenant.spec
    return {
        "tenant": ctx.name,
        "plan": spec.plan.value,
        "isolation": spec.isolation.value,
        "suspended": spec.suspended,
        "storage": spec.storage.mode.value,
        "scoring": {
            "riskThreshold": spec.scoring.risk_threshold,
            "models": spec.scoring.models.to_document(),
        },
        "encryption": {"fields": list(spec.encryption.fields)},
        "retention": spec.retention.to_document(),
        "notifications": spec.notifications.to_document(),
    }


def config_data(ctx: TenantContext) -> dict[str, str]:
    return {
        RULES_FILE: _canonical(ctx.rules_config),
        TENANT_FILE: _canonical(runtime_tenant_settings(ctx)),
    }


def config_digest(ctx: TenantContext) -> str:
    """sha256 over the ConfigMap's data: the pod template annotation that triggers a rollout."""
    return hashlib.sha256(_canonical(config_data(ctx)).encode()).hexdigest()


def config_map(ctx: TenantContext) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.metadata(ctx.names.config_map, component="config"),
        "data": config_data(ctx),
    }
