from __future__ import annotations

from collections.abc import Callable

from ott_operator.builders.context import TenantContext
from ott_operator.builders.gateway import (
    endpoint,
    gateway_objects,
    ingress,
    key_auth_plugin,
    kong_consumer,
    rate_limit_plugin,
)
from ott_operator.settings import GatewayMode, OperatorSettings

ContextFactory = Callable[..., TenantContext]
GATEWAY_API = OperatorSettings(gateway_mode=GatewayMode.GATEWAY_API, gateway_namespace="edge")


def test_consumer_references_the_api_key_credential(make_context: ContextFactory) -> None:
    consumer = kong_consumer(make_context())
    assert (consumer["apiVersion"], consumer["kind"]) == (
        "configuration.konghq.com/v1",
        "KongConsumer",
    )
    assert consumer["metadata"]["name"] == "ottc-acme"
    assert consumer["metadata"]["namespace"] == "ottc-acme"
    assert consumer["metadata"]["annotations"] == {"kubernetes.io/ingress.class": "kong"}
    assert consumer["username"] == "ottc-acme"
    assert consumer["custom_id"] == "acme"
    assert consumer["credentials"] == ["tenant-api-key"]


def test_key_auth_plugin_hides_the_credential(make_context: ContextFactory) -> None:
    plugin = key_auth_plugin(make_context())
    assert plugin["kind"] == "KongPlugin"
    assert plugin["metadata"]["name"] == "ottc-acme-key-auth"
    assert plugin["plugin"] == "key-auth"
    # the runtime authenticates the same key, so Kong must not strip it
    assert plugin["config"] == {"key_names": ["x-api-key"], "hide_credentials": False}


def test_rate_limit_comes_from_the_plan(make_context: ContextFactory) -> None:
    plan = OperatorSettings().plans["enterprise"].rate_limit
    plugin = rate_limit_plugin(make_context(plan="enterprise"))
    assert plugin["plugin"] == "rate-limiting"
    assert plugin["config"]["second"] == plan.per_second
    assert plugin["config"]["minute"] == plan.per_minute
    assert plugin["config"]["limit_by"] == "consumer"


def test_spec_rate_limit_overrides_each_given_field(make_context: ContextFactory) -> None:
    plan = OperatorSettings().plans["standard"].rate_limit
    only_second = rate_limit_plugin(make_context(gateway={"rateLimit": {"perSecond": 7}}))
    assert only_second["config"]["second"] == 7
    assert only_second["config"]["minute"] == plan.per_minute
    both = rate_limit_plugin(make_context(gateway={"rateLimit": {"perSecond": 7, "perMinute": 99}}))
    assert (both["config"]["second"], both["config"]["minute"]) == (7, 99)


def test_ingress_of_class_kong_strips_the_prefix_and_names_both_plugins(
    make_context: ContextFactory,
) -> None:
    route = ingress(make_context(gateway={"host": "api.acme.example", "pathPrefix": "/acme"}))
    assert (route["apiVersion"], route["kind"]) == ("networking.k8s.io/v1", "Ingress")
    assert route["metadata"]["annotations"] == {
        "konghq.com/plugins": "ottc-acme-key-auth,ottc-acme-rate-limit",
        "konghq.com/strip-path": "true",
    }
    assert route["spec"]["ingressClassName"] == "kong"
    assert route["spec"]["rules"] == [
        {
            "host": "api.acme.example",
            "http": {
                "paths": [
                    {
                        "path": "/acme",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": "scoring", "port": {"number": 80}}},
                    }
                ]
            },
        }
    ]


def test_default_path_and_endpoint(make_context: ContextFactory) -> None:
    ctx = make_context()
    assert "host" not in ingress(ctx)["spec"]["rules"][0]
    assert ingress(ctx)["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/tenants/acme"
    assert endpoint(ctx) == "/tenants/acme"
    with_host = make_context(gateway={"host": "api.acme.example"})
    assert endpoint(with_host) == "https://api.acme.example/tenants/acme"


def test_gateway_api_mode_routes_with_an_httproute(make_context: ContextFactory) -> None:
    ctx = make_context(settings=GATEWAY_API, gateway={"host": "api.acme.example"})
    objects = gateway_objects(ctx)
    assert [o["kind"] for o in objects] == ["KongConsumer", "KongPlugin", "KongPlugin", "HTTPRoute"]
    route = objects[-1]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["annotations"] == {
        "konghq.com/plugins": "ottc-acme-key-auth,ottc-acme-rate-limit"
    }
    spec = route["spec"]
    assert spec["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "kong",
            "namespace": "edge",
        }
    ]
    assert spec["hostnames"] == ["api.acme.example"]
    (rule,) = spec["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/tenants/acme"}}]
    assert rule["filters"][0]["urlRewrite"]["path"] == {
        "type": "ReplacePrefixMatch",
        "replacePrefixMatch": "/",
    }
    assert rule["backendRefs"] == [{"name": "scoring", "port": 80}]


def test_kong_ingress_mode_has_no_httproute(make_context: ContextFactory) -> None:
    kinds = [o["kind"] for o in gateway_objects(make_context())]
    assert kinds == ["KongConsumer", "KongPlugin", "KongPlugin", "Ingress"]


def test_pooled_tenant_routes_to_the_shared_pool_service(make_context: ContextFactory) -> None:
    settings = OperatorSettings(pool_namespace="pool", pool_service="pool-svc")
    ctx = make_context(isolation="pooled", settings=settings)
    objects = gateway_objects(ctx)
    assert all(o["metadata"]["namespace"] == "pool" for o in objects)
    backend = objects[-1]["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "pool-svc", "port": {"number": 80}}}
    assert objects[0]["credentials"] == ["acme-api-key"]
