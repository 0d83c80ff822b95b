"""ResourceQuota and LimitRange of a dedicated tenant's namespace, by plan."""

from __future__ import annotations

from ott_operator.builders.context import Object, TenantContext


def resource_quota(ctx: TenantContext) -> Object:
    quota = ctx.plan.quota
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": ctx.metadata("tenant-quota", component="quota"),
        "spec": {
            "hard": {
                "requests.cpu": quota.requests_cpu,
                "requests.memory": quota.requests_memory,
                "limits.cpu": quota.limits_cpu,
                "limits.memory": quota.limits_memory,
                "pods": str(quota.pods),
                "persistentvolumeclaims": str(quota.persistent_volume_claims),
                "requests.storage": quota.requests_storage,
            }
        },
    }


def limit_range(ctx: TenantContext) -> Object:
    """Defaults for containers that name no resources (e.g. CloudNativePG's), so the quota
    above never rejects them for lack of requests."""
    resources = ctx.plan.scoring_resources
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": ctx.metadata("tenant-limits", component="quota"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {
                        "cpu": resources.cpu_request,
                        "memory": resources.memory_request,
                    },
                    "default": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
                }
            ]
        },
    }
