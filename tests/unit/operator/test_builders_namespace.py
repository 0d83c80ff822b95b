"""Namespace, mesh, quota, limits, network policy and service account of a dedicated tenant."""

from __future__ import annotations

from collections.abc import Callable

from ott_operator.builders.context import TenantContext
from ott_operator.builders.mesh import peer_authentication
from ott_operator.builders.namespace import namespace
from ott_operator.builders.networkpolicy import network_policy
from ott_operator.builders.quota import limit_range, resource_quota
from ott_operator.builders.serviceaccount import service_account
from ott_operator.settings import OperatorSettings

ContextFactory = Callable[..., TenantContext]

MANAGED = {
    "app.kubernetes.io/managed-by": "ott-compliance-operator",
    "compliance.ott.dev/tenant": "acme",
}


def test_namespace_is_labelled_restricted_and_without_mesh(make_context: ContextFactory) -> None:
    ns = namespace(make_context())
    assert ns["apiVersion"] == "v1"
    assert ns["kind"] == "Namespace"
    assert ns["metadata"]["name"] == "ottc-acme"
    assert "namespace" not in ns["metadata"]
    assert MANAGED.items() <= ns["metadata"]["labels"].items()
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "istio-injection" not in ns["metadata"]["labels"]


def test_mesh_labels_the_namespace_and_enforces_strict_mtls(make_context: ContextFactory) -> None:
    ctx = make_context(settings=OperatorSettings(mesh=True))
    assert namespace(ctx)["metadata"]["labels"]["istio-injection"] == "enabled"
    peer = peer_authentication(ctx)
    assert peer["apiVersion"] == "security.istio.io/v1"
    assert peer["kind"] == "PeerAuthentication"
    assert peer["metadata"]["namespace"] == "ottc-acme"
    assert peer["spec"] == {"mtls": {"mode": "STRICT"}}


def test_quota_follows_the_plan(make_context: ContextFactory) -> None:
    free = resource_quota(make_context(plan="free"))["spec"]["hard"]
    enterprise = resource_quota(make_context(plan="enterprise"))["spec"]["hard"]
    plans = OperatorSettings().plans
    assert free["pods"] == str(plans["free"].quota.pods)
    assert free["requests.cpu"] == plans["free"].quota.requests_cpu
    assert enterprise["limits.memory"] == plans["enterprise"].quota.limits_memory
    assert enterprise["persistentvolumeclaims"] == str(
        plans["enterprise"].quota.persistent_volume_claims
    )
    assert free != enterprise
    assert resource_quota(make_context())["metadata"]["namespace"] == "ottc-acme"


def test_limit_range_defaults_match_the_plans_container_resources(
    make_context: ContextFactory,
) -> None:
    limits = limit_range(make_context(plan="standard"))["spec"]["limits"][0]
    plan = OperatorSettings().plans["standard"].scoring_resources
    assert limits["type"] == "Container"
    assert limits["defaultRequest"] == {"cpu": plan.cpu_request, "memory": plan.memory_request}
    assert limits["default"] == {"cpu": plan.cpu_limit, "memory": plan.memory_limit}


def test_network_policy_admits_only_the_gateway_the_namespace_and_the_operator(
    make_context: ContextFactory,
) -> None:
    policy = network_policy(make_context(settings=OperatorSettings(gateway_namespace="edge")))
    spec = policy["spec"]
    assert spec["podSelector"] == {}
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [
        {
            "from": [
                {"podSelector": {}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}},
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ott-compliance-system"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}},
                },
            ]
        }
    ]


def test_network_policy_lets_the_database_operator_in_for_managed_storage(
    make_context: ContextFactory,
) -> None:
    peers = network_policy(make_context(storage={"mode": "managed"}))["spec"]["ingress"][0]["from"]
    allowed = [p["namespaceSelector"]["matchLabels"] for p in peers if "namespaceSelector" in p]
    assert {"kubernetes.io/metadata.name": "cnpg-system"} in allowed


def test_service_account_mounts_no_token(make_context: ContextFactory) -> None:
    account = service_account(make_context())
    assert account["metadata"]["name"] == "scoring"
    assert account["metadata"]["namespace"] == "ottc-acme"
    assert account["automountServiceAccountToken"] is False
