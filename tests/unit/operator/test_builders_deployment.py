from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ott_operator.builders.config import config_digest
from ott_operator.builders.context import TenantContext
from ott_operator.builders.cronjob import model_retrain_cronjob
from ott_operator.builders.deployment import deployment, pod_template
from ott_operator.settings import OperatorSettings
from ott_runtime.notifications.delivery import DEFAULT_SECRETS_DIR

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


def test_no_tracing_endpoint_no_otel_variables(make_context: ContextFactory) -> None:
    env = {e["name"] for e in _container(deployment(make_context()))["env"]}
    assert not {name for name in env if name.startswith("OTEL_")}


def test_tracing_settings_reach_the_runtime_and_the_retrain_job(
    make_context: ContextFactory,
) -> None:
    settings = OperatorSettings.model_validate(
        {
            "tracing": {
                "endpoint": "http://jaeger.obs:4317",
                "protocol": "grpc",
                "samplerRatio": 0.25,
            }
        }
    )
    ctx = make_context(settings=settings)
    job = model_retrain_cronjob(ctx)["spec"]["jobTemplate"]
    for container in (_container(deployment(ctx)), _container(job)):
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger.obs:4317"
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
        assert env["OTEL_RESOURCE_ATTRIBUTES"] == "ottc.tenant=acme"


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


HOOKS = [
    {"url": "https://hooks.example/a", "secretRef": {"name": "acme-hooks", "key": "primary"}},
    {"url": "https://hooks.example/b", "secretRef": {"name": "acme-hooks", "key": "backup"}},
    {"url": "https://hooks.example/c", "secretRef": {"name": "pager", "key": "hmac"}},
]


def _webhook_volumes(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in pod["spec"]["volumes"] if v["name"].startswith("webhook-")]


def test_webhook_secrets_are_mounted_where_the_runtime_reads_them(
    make_context: ContextFactory,
) -> None:
    pod = pod_template(make_context(notifications={"webhooks": HOOKS}))
    volumes = _webhook_volumes(pod)
    assert [v["secret"]["secretName"] for v in volumes] == ["acme-hooks", "pager"]
    hooks, pager = (v["secret"] for v in volumes)
    # only the keys the webhooks name, each as a file named after its key
    assert hooks["items"] == [
        {"key": "backup", "path": "backup"},
        {"key": "primary", "path": "primary"},
    ]
    assert pager["items"] == [{"key": "hmac", "path": "hmac"}]
    for secret in (hooks, pager):
        assert secret["defaultMode"] == 0o440
        assert secret["optional"] is True
    mounts = {m["name"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    for volume in volumes:
        mount = mounts[volume["name"]]
        assert mount["readOnly"] is True
        name = volume["secret"]["secretName"]
        for item in volume["secret"]["items"]:
            # the file the runtime's WebhookSecrets opens by default
            assert f"{mount['mountPath']}/{item['path']}" == str(
                DEFAULT_SECRETS_DIR / name / item["key"]
            )
    assert len({v["name"] for v in volumes}) == 2


def test_webhook_volume_names_are_valid_for_long_secret_names(
    make_context: ContextFactory,
) -> None:
    long_name = "a" * 200
    hooks = [{"url": "https://h.example/", "secretRef": {"name": long_name, "key": "k"}}]
    (volume,) = _webhook_volumes(pod_template(make_context(notifications={"webhooks": hooks})))
    assert volume["secret"]["secretName"] == long_name
    assert len(volume["name"]) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", volume["name"])


def test_no_webhooks_no_webhook_volumes_and_the_same_template(
    make_context: ContextFactory,
) -> None:
    plain = pod_template(make_context())
    assert _webhook_volumes(plain) == []
    assert not [
        m
        for m in plain["spec"]["containers"][0]["volumeMounts"]
        if m["mountPath"].startswith("/var/run/secrets/ottc")
    ]
    assert pod_template(make_context(notifications={"webhooks": []})) == plain


def test_template_is_unchanged_while_notifications_are(make_context: ContextFactory) -> None:
    first = pod_template(make_context(notifications={"webhooks": HOOKS}))
    renamed = make_context(displayName="Acme Renamed", notifications={"webhooks": HOOKS})
    assert pod_template(renamed) == first
    other_key = [*HOOKS[:2], {**HOOKS[2], "secretRef": {"name": "pager", "key": "v2"}}]
    changed = pod_template(make_context(notifications={"webhooks": other_key}))
    assert changed != first
    assert _webhook_volumes(changed)[1]["secret"]["items"] == [{"key": "v2", "path": "v2"}]


def test_retrain_job_mounts_no_webhook_secrets(make_context: ContextFactory) -> None:
    cron = model_retrain_cronjob(make_context(notifications={"webhooks": HOOKS}))
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert _webhook_volumes(pod) == []
