"""Routing a tenant's traffic through Kong: consumer, plugins and a route.

The route is an Ingress of class ``kong`` (``kong-ingress`` mode) or a Gateway API
HTTPRoute (``gateway-api`` mode). Either way Kong authenticates the API key (key-auth) and
limits the rate per consumer, from the plan with ``spec.gateway.rateLimit`` on top.
"""

from __future__ import annotations

from ott_operator import labels
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.service import SERVICE_PORT
from ott_operator.settings import GatewayMode

KONG_API_VERSION = "configuration.konghq.com/v1"
API_KEY_HEADER = "x-api-key"


def path_prefix(ctx: TenantContext) -> str:
    return ctx.tenant.spec.gateway.path_prefix or f"/tenants/{ctx.name}"


def endpoint(ctx: TenantContext) -> str:
    """``status.endpoint``: the public URL when a host is set, the path on the gateway otherwise."""
    host = ctx.tenant.spec.gateway.host
    return f"https://{host}{path_prefix(ctx)}" if host else path_prefix(ctx)


def effective_rate_limit(ctx: TenantContext) -> dict[str, int]:
    """The plan's limits, each overridden by ``spec.gateway.rateLimit`` where given."""
    plan = ctx.plan.rate_limit
    override = ctx.tenant.spec.gateway.rate_limit
    per_second = override.per_second if override and override.per_second else plan.per_second
    per_minute = override.per_minute if override and override.per_minute else plan.per_minute
    return {"second": per_second, "minute": per_minute}


def _kong_metadata(ctx: TenantContext, name: str) -> Object:
    return ctx.metadata(
        name,
        component="gateway",
        annotations={labels.INGRESS_CLASS_ANNOTATION: ctx.settings.ingress_class},
    )


def kong_consumer(ctx: TenantContext) -> Object:
    return {
        "apiVersion": KONG_API_VERSION,
        "kind": "KongConsumer",
        "metadata": _kong_metadata(ctx, ctx.names.consumer),
        "username": ctx.names.consumer,
        "custom_id": ctx.name,
        "credentials": [ctx.names.api_key_secret],
    }


def key_auth_plugin(ctx: TenantContext) -> Object:
    return {
        "apiVersion": KONG_API_VERSION,
        "kind": "KongPlugin",
        "metadata": _kong_metadata(ctx, ctx.names.key_auth_plugin),
        "plugin": "key-auth",
        # Kong passes the key on: the runtime authenticates it again (defence in depth) and,
        # in the shared pool, the key is what tells it which tenant is calling.
        "config": {"key_names": [API_KEY_HEADER], "hide_credentials": False},
    }


def rate_limit_plugin(ctx: TenantContext) -> Object:
    return {
        "apiVersion": KONG_API_VERSION,
        "kind": "KongPlugin",
        "metadata": _kong_metadata(ctx, ctx.names.rate_limit_plugin),
        "plugin": "rate-limiting",
        "config": {
            **effective_rate_limit(ctx),
            "limit_by": "consumer",
            "policy": "local",
            "fault_tolerant": True,
        },
    }


def _plugins_annotation(ctx: TenantContext) -> str:
    return f"{ctx.names.key_auth_plugin},{ctx.names.rate_limit_plugin}"


def ingress(ctx: TenantContext) -> Object:
    rule: Object = {
        "http": {
            "paths": [
                {
                    "path": path_prefix(ctx),
                    "pathType": "Prefix",
                    "backend": {
                        "service": {"name": ctx.names.service, "port": {"number": SERVICE_PORT}}
                    },
                }
            ]
        }
    }
    host = ctx.tenant.spec.gateway.host
    if host:
        rule = {"host": host, **rule}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": ctx.metadata(
            ctx.names.route,
            component="gateway",
            annotations={
                labels.KONG_PLUGINS: _plugins_annotation(ctx),
                labels.KONG_STRIP_PATH: "true",
            },
        ),
        "spec": {"ingressClassName": ctx.settings.ingress_class, "rules": [rule]},
    }


def http_route(ctx: TenantContext) -> Object:
    settings = ctx.settings
    spec: Object = {
        "parentRefs": [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": settings.gateway_name,
                "namespace": settings.gateway_namespace,
            }
        ],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": path_prefix(ctx)}}],
                # the Gateway API spelling of konghq.com/strip-path
                "filters": [
                    {
                        "type": "URLRewrite",
                        "urlRewrite": {
                            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
                        },
                    }
                ],
                "backendRefs": [{"name": ctx.names.service, "port": SERVICE_PORT}],
            }
        ],
    }
    host = ctx.tenant.spec.gateway.host
    if host:
        spec["hostnames"] = [host]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": ctx.metadata(
            ctx.names.route,
            component="gateway",
            annotations={labels.KONG_PLUGINS: _plugins_annotation(ctx)},
        ),
        "spec": spec,
    }


def gateway_objects(ctx: TenantContext) -> list[Object]:
    route = (
        http_route(ctx) if ctx.settings.gateway_mode is GatewayMode.GATEWAY_API else ingress(ctx)
    )
    return [kong_consumer(ctx), key_auth_plugin(ctx), rate_limit_plugin(ctx), route]
