"""Every object the builders can produce, in every mode, accepted by the real API server
and the real third-party schemas (Kong, Gateway API, Istio, CloudNativePG): server-side
dry-run, so the running operator's tenants are not touched."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ott_operator.builders.context import TenantContext
from ott_operator.builders.tenant import desired_objects
from ott_operator.settings import GatewayMode, OperatorSettings
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.tenant import ComplianceTenant

RULES = {"apiVersion": "compliance.ott.dev/v1alpha1", "kind": "ResolvedRules", "regulations": []}


def _context(
    name: str, settings: OperatorSettings, storage: dict[str, Any], host: str | None
) -> TenantContext:
    spec: dict[str, Any] = {"displayName": "Schema", "plan": "enterprise", "storage": storage}
    if host:
        spec["gateway"] = {"host": host, "rateLimit": {"perSecond": 3}}
    tenant = ComplianceTenant.model_validate(
        {
            "apiVersion": "compliance.ott.dev/v1alpha1",
            "kind": "ComplianceTenant",
            "metadata": {"name": name},
            "spec": spec,
        }
    )
    return TenantContext(tenant, settings, RULES, KeyRing.generate(name), "ottc_x")


@pytest.mark.parametrize(
    ("name", "mode", "mesh", "storage", "host"),
    [
        (
            "schema-kong",
            GatewayMode.KONG_INGRESS,
            False,
            {"mode": "managed", "size": "2Gi"},
            "api.example.com",
        ),
        ("schema-mesh", GatewayMode.GATEWAY_API, True, {"mode": "embedded"}, "api.example.com"),
        (
            "schema-route",
            GatewayMode.GATEWAY_API,
            False,
            {"mode": "external", "databaseSecretRef": {"name": "db", "key": "url"}},
            None,
        ),
    ],
)
def test_builders_output_passes_the_real_schemas(
    cluster: Any,
    name: str,
    mode: GatewayMode,
    mesh: bool,
    storage: dict[str, Any],
    host: str | None,
) -> None:
    objects = desired_objects(
        _context(name, OperatorSettings(gateway_mode=mode, mesh=mesh), storage, host)
    )
    kinds = {o["kind"] for o in objects}
    assert ("HTTPRoute" in kinds) is (mode is GatewayMode.GATEWAY_API)
    assert ("PeerAuthentication" in kinds) is mesh
    namespace, rest = objects[0], objects[1:]
    assert namespace["kind"] == "Namespace"
    cluster.access.kubectl(
        "apply",
        "--server-side",
        "--field-manager=schema-check",
        "-f",
        "-",
        input=yaml.safe_dump(namespace),
    )
    try:
        result = cluster.access.kubectl(
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=schema-check",
            "-f",
            "-",
            input=yaml.safe_dump_all(rest),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("serverside-applied (server dry run)") == len(rest), (
            result.stdout
        )
    finally:
        cluster.access.kubectl("delete", "namespace", f"ottc-{name}", "--wait=false")
