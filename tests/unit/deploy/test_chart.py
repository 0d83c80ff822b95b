"""The Helm chart with the real helm, no cluster: lint, schema, rendering, settings contract.

The cluster side (dry-run=server for every value set, install, upgrade, uninstall) is in
tests/e2e/test_helm.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from ott_operator.settings import GatewayMode, OperatorSettings
from ott_runtime.devcluster import find_tools_bin

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "ott-compliance"
VALUE_SETS = {
    p.name.removesuffix("-values.yaml"): p for p in sorted(CHART.glob("ci/*-values.yaml"))
}
KUBE_VERSION = "1.34.4"  # the helm built here defaults to 1.20 without a cluster
RELEASE, NAMESPACE = "ott-compliance", "ott-compliance-system"


@cache
def helm_bin() -> Path:
    return find_tools_bin() / "helm"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(helm_bin()), *args], capture_output=True, text=True, check=False, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def render(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return helm(
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
        "--skip-crds",
        *args,
        check=check,
    )


@cache
def rendered(value_set: str) -> list[dict[str, Any]]:
    out = render("-f", str(VALUE_SETS[value_set])).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    (found,) = [
        d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)
    ]
    return found


def settings_of(docs: list[dict[str, Any]]) -> OperatorSettings:
    config_map = one(docs, "ConfigMap", "-operator-settings")
    return OperatorSettings.model_validate(yaml.safe_load(config_map["data"]["settings.yaml"]))


def test_value_sets_exist() -> None:
    assert set(VALUE_SETS) >= {"default", "gateway-api", "istio", "monitoring"}


def test_chart_crds_are_the_repo_crds() -> None:
    """crds/ is the source of truth; the chart carries a copy (helm packages no symlinks)."""
    ours = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    in_chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    stale = [name for name in ours if in_chart.get(name) != ours[name]]
    assert not stale, f"helm/ott-compliance/crds/ differs for {stale}: run hack/render-manifests.sh"
    assert set(in_chart) - set(ours) == {"kopf-peering.yaml"}


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_strict_is_clean(value_set: str) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(VALUE_SETS[value_set]))
    problems = [
        line for line in result.stdout.splitlines() if "[WARNING]" in line or "[ERROR]" in line
    ]
    assert not problems
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        (
            "gateway.mode=nginx",
            "at '/gateway/mode': value must be one of 'kong-ingress', 'gateway-api'",
        ),
        ("operator.replicas=0", "at '/operator/replicas': minimum: got 0, want 1"),
        ("operator.replicaz=2", "additional properties 'replicaz' not allowed"),
        ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'"),
        ("operator.settings.driftInterval=soon", "at '/operator/settings/driftInterval'"),
        ("operator.settings.currency=euro", "at '/operator/settings/currency'"),
        ("pool.autoscaling.targetCPUUtilizationPercentage=150", "maximum: got 150, want 100"),
        ("istio.peerAuthentication.mode=DISABLE", "at '/istio/peerAuthentication/mode'"),
        ("tracing.protocol=thrift", "at '/tracing/protocol'"),
    ],
)
def test_schema_rejects_bad_values_with_the_path(setting: str, complaint: str) -> None:
    result = render("--set", setting, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr
    lint = helm("lint", str(CHART), "--set", setting, check=False)
    assert lint.returncode != 0
    assert complaint in lint.stdout


def test_min_replicas_above_max_is_refused() -> None:
    result = render(
        "--set",
        "pool.database.secretName=db",
        "--set",
        "pool.autoscaling.minReplicas=5",
        "--set",
        "pool.autoscaling.maxReplicas=3",
        check=False,
    )
    assert result.returncode != 0
    assert "minReplicas (5) must not exceed maxReplicas (3)" in result.stderr


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_operator_settings_are_what_the_operator_reads(value_set: str) -> None:
    docs = rendered(value_set)
    values = yaml.safe_load(VALUE_SETS[value_set].read_text()) or {}
    settings = settings_of(docs)
    pool_service = one(docs, "Service", "-pool")
    operator = one(docs, "Deployment", "-operator")
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    assert settings.runtime_image == container["image"]
    assert settings.pool_service == pool_service["metadata"]["name"]
    assert settings.pool_namespace == settings.operator_namespace == NAMESPACE
    assert settings.gateway_mode == GatewayMode(
        values.get("gateway", {}).get("mode", "kong-ingress")
    )
    assert settings.mesh is values.get("istio", {}).get("enabled", False)


def test_tracing_values_reach_the_operator_the_pool_and_the_settings() -> None:
    endpoint = "http://jaeger-collector.observability:4318"
    docs = [
        doc
        for doc in yaml.safe_load_all(render("--set", f"tracing.endpoint={endpoint}").stdout)
        if doc
    ]
    for suffix, service in (("-operator", "ottc-operator"), ("-pool", "ottc-pool")):
        (container,) = one(docs, "Deployment", suffix)["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
        assert env["OTEL_SERVICE_NAME"] == service
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert settings_of(docs).tracing.endpoint == endpoint  # tenant runtimes get it too
    for doc in rendered("default"):  # off by default: no exporter anywhere
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in json.dumps(doc)


def test_operator_runs_two_peered_replicas_with_a_liveness_probe() -> None:
    docs = rendered("default")
    operator = one(docs, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 2
    peering = one(docs, "ClusterKopfPeering")
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "operator"
    assert f"--peering={peering['metadata']['name']}" in container["args"]
    liveness = next(a for a in container["args"] if a.startswith("--liveness="))
    port = next(
        p for p in container["ports"] if p["name"] == container["livenessProbe"]["httpGet"]["port"]
    )
    assert liveness == f"--liveness=http://0.0.0.0:{port['containerPort']}/healthz"
    # Tied kopf priorities freeze every replica: the start command must give each pod its own.
    priorities = set()
    for pod_name in ("ott-operator-7d9f-abcde", "ott-operator-7d9f-fghij"):
        script = container["command"][2].replace("exec ottc", "exec echo")
        echoed = subprocess.run(
            [*container["command"][:2], script, *container["command"][3:], *container["args"]],
            env={"POD_NAME": pod_name, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert echoed[: len(container["args"])] == container["args"]
        (priority,) = [a for a in echoed if a.startswith("--priority=")]
        priorities.add(int(priority.removeprefix("--priority=")))
    assert len(priorities) == 2
    binding = one(docs, "ClusterRoleBinding")
    assert (
        binding["subjects"][0]["name"] == operator["spec"]["template"]["spec"]["serviceAccountName"]
    )


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_container_is_non_root_with_a_writable_tmp(value_set: str) -> None:
    for deployment in (d for d in rendered(value_set) if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, "HOME and TMPDIR are /tmp in the image"


def test_pool_on_sqlite_is_one_replica_without_autoscaling() -> None:
    docs = rendered("default")
    pool = one(docs, "Deployment", "-pool")
    assert pool["spec"]["replicas"] == 1
    assert pool["spec"]["strategy"]["type"] == "Recreate"
    assert not [d for d in docs if d["kind"] in {"HorizontalPodAutoscaler", "PodDisruptionBudget"}]


def test_pool_on_postgresql_scales_and_keeps_a_replica_through_disruptions() -> None:
    docs = rendered("gateway-api")
    pool = one(docs, "Deployment", "-pool")
    assert "replicas" not in pool["spec"], "the HPA owns the replica count"
    (container,) = pool["spec"]["template"]["spec"]["containers"]
    database = next(e for e in container["env"] if e["name"] == "DATABASE_URL")
    assert database["valueFrom"]["secretKeyRef"]["name"] == "ott-compliance-pool-db"
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == pool["metadata"]["name"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == pool["spec"]["selector"]["matchLabels"]


def test_gateway_api_mode_creates_the_gateway_the_operator_attaches_to() -> None:
    docs = rendered("gateway-api")
    gateway = one(docs, "Gateway")
    settings = settings_of(docs)
    assert (gateway["metadata"]["name"], gateway["metadata"]["namespace"]) == (
        settings.gateway_name,
        settings.gateway_namespace,
    )
    assert not [d for d in rendered("default") if d["kind"] == "Gateway"]


def test_istio_value_set_injects_and_enforces_mtls() -> None:
    docs = rendered("istio")
    pool = one(docs, "Deployment", "-pool")
    assert pool["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    assert one(docs, "PeerAuthentication")["spec"]["mtls"]["mode"] == "STRICT"
    rule = one(docs, "DestinationRule")
    service = one(docs, "Service", "-pool")["metadata"]["name"]
    assert rule["spec"]["host"] == f"{service}.{NAMESPACE}.svc.cluster.local"
    assert not [d for d in rendered("default") if d["kind"] == "PeerAuthentication"]


def test_monitoring_value_set_scrapes_the_pool_and_ships_a_valid_dashboard() -> None:
    docs = rendered("monitoring")
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service", "-pool")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert "rollouts-pod-template-hash" in monitor["spec"]["podTargetLabels"]
    dashboard = one(docs, "ConfigMap", "-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dashboard["data"]["ott-compliance.json"])["panels"]
    assert len(panels) >= 4
    assert all(target["expr"] for panel in panels for target in panel["targets"])


def test_network_policies_let_in_only_the_gateway_monitoring_and_the_namespace() -> None:
    docs = rendered("default")
    pool_policy = one(docs, "NetworkPolicy", "-pool")
    sources = [peer for rule in pool_policy["spec"]["ingress"] for peer in rule["from"]]
    namespaces = {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in sources
        if "namespaceSelector" in p
    }
    assert namespaces == {"kong", "monitoring"}
    assert one(docs, "NetworkPolicy", "-operator")["spec"]["ingress"] == []


def test_plain_manifests_are_fresh(tmp_path: Path) -> None:
    """examples/manifests/ is what hack/render-manifests.sh renders from the chart today."""
    subprocess.run(
        ["bash", str(REPO / "hack" / "render-manifests.sh"), str(tmp_path)],
        cwd=REPO,
        env={"HELM": str(helm_bin()), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        timeout=120,
    )
    committed = REPO / "examples" / "manifests"
    fresh = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*.yaml")}
    current = {p.relative_to(committed): p.read_text() for p in committed.rglob("*.yaml")}
    stale = sorted(
        str(name) for name in fresh.keys() | current.keys() if fresh.get(name) != current.get(name)
    )
    assert not stale, f"examples/manifests is stale ({stale}): run hack/render-manifests.sh"
    counts = {
        name.parent.name: Counter(d["kind"] for d in yaml.safe_load_all(text) if d)
        for name, text in fresh.items()
        if name.parent.name in VALUE_SETS
    }
    assert set(counts) == set(VALUE_SETS)


def _exported_series() -> set[str]:
    """Every series name the runtime exports (ott_runtime.api.metrics and the live stream's
    metrics, which register into the same registry), by metric type."""
    from ott_runtime.api.metrics import Metrics
    from ott_runtime.realtime.session import StreamMetrics

    metrics = Metrics()
    StreamMetrics(metrics.registry)
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    return {
        family.name + suffix
        for family in metrics.registry.collect()
        for suffix in suffixes.get(family.type, [""])
    }


def test_dashboard_and_canary_analysis_query_metrics_the_runtime_exports() -> None:
    dashboard = json.loads((CHART / "dashboards" / "ott-compliance.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    analysis = yaml.safe_load((REPO / "deploy" / "rollout" / "analysistemplate.yaml").read_text())
    queries += [m["provider"]["prometheus"]["query"] for m in analysis["spec"]["metrics"]]
    used = {name for query in queries for name in re.findall(r"\bottc_[a-z_]+", query)}
    assert used
    assert used <= _exported_series(), f"not exported by the runtime: {used - _exported_series()}"


def test_canary_rollout_takes_the_pool_template_from_the_chart() -> None:
    """deploy/rollout/ with values-canary.yaml: the Rollout adopts the chart's pool pods."""
    rollout_dir = REPO / "deploy" / "rollout"
    docs = [
        d
        for d in yaml.safe_load_all(render("-f", str(rollout_dir / "values-canary.yaml")).stdout)
        if d
    ]
    pool = one(docs, "Deployment", "-pool")
    assert pool["spec"]["replicas"] == 0, "the Rollout, not the Deployment, runs the pods"
    assert not [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    rollout = yaml.safe_load((rollout_dir / "rollout.yaml").read_text())
    assert rollout["metadata"]["namespace"] == pool["metadata"]["namespace"]
    assert rollout["spec"]["workloadRef"]["name"] == pool["metadata"]["name"]
    pod_labels = pool["spec"]["template"]["metadata"]["labels"]
    assert rollout["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = yaml.safe_load((rollout_dir / "hpa.yaml").read_text())
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    assert hpa["spec"]["scaleTargetRef"]["name"] == rollout["metadata"]["name"]
    # the analysis can tell canary from stable only if Prometheus keeps the pod-template hash
    assert "rollouts-pod-template-hash" in one(docs, "ServiceMonitor")["spec"]["podTargetLabels"]


def test_metrics_token_and_tenant_label_reach_the_pool_and_its_scraper() -> None:
    def pool_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
        (container,) = one(docs, "Deployment", "-pool")["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e for e in container["env"]}

    default = rendered("monitoring")
    assert not {"OTTC_METRICS_TOKEN", "OTTC_METRICS_TENANT_LABEL"} & set(pool_env(default))
    assert "authorization" not in one(default, "ServiceMonitor")["spec"]["endpoints"][0]
    out = render(
        "-f", str(VALUE_SETS["monitoring"]),
        "--set", "monitoring.metrics.tokenSecret.name=pool-metrics",
        "--set", "monitoring.metrics.tenantLabel=false",
    ).stdout  # fmt: skip
    docs = [doc for doc in yaml.safe_load_all(out) if doc]
    env = pool_env(docs)
    secret = {"secretKeyRef": {"name": "pool-metrics", "key": "token"}}
    assert env["OTTC_METRICS_TOKEN"]["valueFrom"] == secret
    assert env["OTTC_METRICS_TENANT_LABEL"]["value"] == "false"
    endpoint = one(docs, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": secret["secretKeyRef"]}
