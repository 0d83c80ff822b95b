from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ott_operator.builders.config import config_digest
from ott_operator.builders.context import TenantContext
from ott_operator.builders.deployment import deployment, pod_template
from ott_operator.settings import OperatorSettings

ContextFactory = Callable[..., TenantContext]


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def test_scoring_runs_the_configured_image_as_non_root_on_a_read_only_root(
    make_context: ContextFactory,
) -> None:
    ctx = make_context(settings=OperatorSettings(runtime_image="example/ottc:9.9"))
    obj = deployment(ctx)
    assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "Deployment")
    assert obj["metadata"]["name"] == "scoring"
    assert obj["metadata"]["namespace"] == "ottc-acme"
    pod = obj["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "scoring"
    assert pod["automountServiceAccountToken"] is False
    container = _container(obj)
    assert container["image"] == "example/ottc:9.9"
    assert container["args"] == ["serve"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_probes_hit_health_and_readiness(make_context: ContextFactory) -> None:
    container = _container(deployment(make_context()))
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # a slow model load must not be killed by the liveness probe
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_resources_follow_the_plan(make_context: ContextFactory) -> None:
    plans = OperatorSettings().plans
    for plan in ("free", "standard", "enterprise"):
        resources = _container(deployment(make_context(plan=plan)))["resources"]
        expected = plans[plan].scoring_resources
        assert resources == {
            "requests": {"cpu": expected.cpu_request, "memory": expected.memory_request},
            "limits": {"cpu": expected.cpu_limit, "memory": expected.memory_limit},
        }


def test_config_and_keys_are_mounted_and_named_in_the_environment(
    make_context: ContextFactory,
) -> None:
    obj = deployment(make_context())
    container = _container(obj)
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["config"] == {"name": "config", "mountPath": "/etc/ottc/config", "readOnly": True}
    # the runtime's KeyStore reads <keys dir>/<tenant>/keyring.json
    assert mounts["keys"] == {"name": "keys", "mountPath": "/etc/ottc/keys/acme", "readOnly": True}
    assert mounts["tmp"]["mountPath"] == "/tmp"
    volumes = {v["name"]: v for v in obj["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"] == {"name": "tenant-config"}
    assert volumes["keys"]["secret"] == {"secretName": "tenant-keys"}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    env = {e["name"]: e for e in container["env"]}
    assert env["OTTC_TENANT"]["value"] == "acme"
    assert env["OTTC_CONFIG_DIR"]["value"] == "/etc/ottc/config"
    assert env["OTTC_KEYS_DIR"]["value"] == "/etc/ottc/keys"
    assert "DATABASE_URL" in env


def test_pod_template_carries_the_config_digest_and_spreads(make_context: ContextFactory) -> None:
    ctx = make_context()
    template = deployment(ctx)["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "compliance.ott.dev/config-digest": config_digest(ctx)
    }
    selector = deployment(ctx)["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    spread = template["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    assert all(c["labelSelector"] == {"matchLabels": selector} for c in spread)


def test_pod_template_is_unchanged_when_nothing_relevant_changed(
    make_context: ContextFactory,
) -> None:
    """Replica bounds, gateway limits, display name, CPU target and rotation interval are not
    read by the pods: changing them must not roll the Deployment out."""
    storage = {"mode": "external", "databaseSecretRef": {"name": "db", "key": "url"}}
    base = pod_template(make_context(storage=storage))
    for change in (
        {"displayName": "Acme Renamed"},
        {"scoring": {"replicas": {"min": 3, "max": 9}, "targetCPUUtilization": 50}},
        {"gateway": {"rateLimit": {"perSecond": 7, "perMinute": 70}, "host": "x.example.com"}},
        {"encryption": {"rotationInterval": "24h"}},
    ):
        assert pod_template(make_context(storage=storage, **change)) == base, change


def test_pod_template_changes_when_rules_or_image_change(
    make_context: ContextFactory, rules_config: dict[str, Any]
) -> None:
    base = pod_template(make_context())
    assert pod_template(make_context(rules={**rules_config, "rules": []})) != base
    changed_image = OperatorSettings(runtime_image="example/ottc:2")
    assert pod_template(make_context(settings=changed_image)) != base


def test_replicas_are_left_to_the_autoscaler(make_context: ContextFactory) -> None:
    storage = {"mode": "external", "databaseSecretRef": {"name": "db", "key": "url"}}
    spec = deployment(make_context(storage=storage))["spec"]
    assert "replicas" not in spec
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }


def test_suspended_tenant_scales_to_zero(make_context: ContextFactory) -> None:
    assert deployment(make_context(suspended=True))["spec"]["replicas"] == 0
