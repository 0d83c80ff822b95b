"""What the cluster's own controllers report back after the apply: is scoring available
(the Deployment's status) and has the gateway taken the route (the Ingress's published
address, or an HTTPRoute a Gateway accepted). Applying the objects alone proves neither."""

from __future__ import annotations

from ott_operator.conditions import Condition, ConditionType
from ott_operator.kube import KubeAPI
from ott_operator.naming import TenantNames
from ott_operator.settings import GatewayMode, OperatorSettings
from ott_operator.status import gateway_condition, scoring_condition


def observe(
    kube: KubeAPI, settings: OperatorSettings, names: TenantNames, *, suspended: bool
) -> dict[ConditionType, Condition]:
    """The ScoringAvailable and GatewayReady conditions."""
    deployment = kube.get("apps/v1", "Deployment", names.deployment, names.namespace)
    if settings.gateway_mode is GatewayMode.GATEWAY_API:
        route = kube.get("gateway.networking.k8s.io/v1", "HTTPRoute", names.route, names.namespace)
    else:
        route = kube.get("networking.k8s.io/v1", "Ingress", names.route, names.namespace)
    return {
        ConditionType.SCORING_AVAILABLE: scoring_condition(deployment, suspended=suspended),
        ConditionType.GATEWAY_READY: gateway_condition(route),
    }
