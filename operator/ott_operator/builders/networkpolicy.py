"""Ingress into a dedicated tenant's namespace: only from the gateway, from itself and from
the operator's own pods (which read the tenant's usage from its runtime)."""

from __future__ import annotations

from ott_operator import labels
from ott_operator.builders.context import Object, TenantContext
from ott_runtime.domain.tenant import StorageMode


def _from_namespace(name: str) -> Object:
    return {"namespaceSelector": {"matchLabels": {labels.NAMESPACE_NAME: name}}}


def network_policy(ctx: TenantContext) -> Object:
    settings = ctx.settings
    peers: list[Object] = [
        {"podSelector": {}},
        _from_namespace(settings.gateway_namespace),
        {  # the operator, not the pool that shares its namespace
            **_from_namespace(settings.operator_namespace),
            "podSelector": {"matchLabels": {labels.COMPONENT: "operator"}},
        },
    ]
    if ctx.storage_mode is StorageMode.MANAGED:
        # the CloudNativePG operator talks to its instance managers in this namespace
        peers.append(_from_namespace(settings.cnpg_operator_namespace))
    peers.extend(_from_namespace(ns) for ns in settings.extra_ingress_namespaces)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata("tenant-ingress", component="network"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": peers}]},
    }
