"""The desired objects of one tenant, in apply order (namespace first, route last)."""

from __future__ import annotations

from ott_operator.builders.config import config_map
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.cronjob import model_retrain_cronjob
from ott_operator.builders.deployment import deployment
from ott_operator.builders.gateway import gateway_objects
from ott_operator.builders.hpa import horizontal_pod_autoscaler
from ott_operator.builders.mesh import peer_authentication
from ott_operator.builders.namespace import namespace
from ott_operator.builders.networkpolicy import network_policy
from ott_operator.builders.pdb import pod_disruption_budget
from ott_operator.builders.quota import limit_range, resource_quota
from ott_operator.builders.secrets import api_key_secret, keys_secret
from ott_operator.builders.service import service
from ott_operator.builders.serviceaccount import service_account
from ott_operator.builders.storage import storage_objects


def desired_objects(ctx: TenantContext) -> list[Object]:
    """Pooled tenants get config, secrets and gateway objects in the pool namespace (routed to
    the shared pool Service); dedicated tenants get their whole namespace."""
    tenant_data = [config_map(ctx), keys_secret(ctx), api_key_secret(ctx)]
    if not ctx.names.dedicated:
        return [*tenant_data, *gateway_objects(ctx)]

    objects = [namespace(ctx)]
    if ctx.settings.mesh:
        objects.append(peer_authentication(ctx))
    objects += [
        resource_quota(ctx),
        limit_range(ctx),
        network_policy(ctx),
        service_account(ctx),
        *tenant_data,
        *storage_objects(ctx),
        deployment(ctx),
        service(ctx),
    ]
    if ctx.autoscaled:
        objects.append(horizontal_pod_autoscaler(ctx))
    if not ctx.suspended:
        objects.append(pod_disruption_budget(ctx))
    objects.append(model_retrain_cronjob(ctx))
    objects += gateway_objects(ctx)
    return objects


# Kinds whose objects come and go with the spec or the settings (suspension, gateway mode,
# mesh): objects of these kinds that carry the tenant's labels but are no longer desired
# are deleted. Data-bearing kinds (PVC, database Cluster, Secrets) are never pruned.
PRUNABLE_KINDS: tuple[tuple[str, str], ...] = (
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("security.istio.io/v1", "PeerAuthentication"),
)
