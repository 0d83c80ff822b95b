"""The chart on a real API server with the real helm: every value set accepted by the API
server (dry-run=server, third-party CRDs installed), then a real install, upgrade, uninstall.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from ott_runtime.devcluster import ClusterAccess

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "ott-compliance"
VALUE_SETS = {
    p.name.removesuffix("-values.yaml"): p for p in sorted(CHART.glob("ci/*-values.yaml"))
}
DRY_RUN_NAMESPACE = "ottc-e2e-helm-dry"
INSTALL_NAMESPACE = "ottc-e2e-helm"
RELEASE = "ottc-e2e"
# Its own peering object, so that a real operator install on the same (kind) cluster is
# never touched by this test's install and uninstall.
PEERING = "ottc-e2e"


@pytest.fixture(scope="module")
def chart_prerequisites(
    control_plane: ClusterAccess, thirdparty_crds: list[str], compliance_crds: list[str]
) -> ClusterAccess:
    """Every CRD the chart's objects need, plus the namespaces the tests use."""
    control_plane.apply_crds(CHART / "crds" / "kopf-peering.yaml")
    for namespace in (DRY_RUN_NAMESPACE, INSTALL_NAMESPACE):
        manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return control_plane


def test_kube_version_of_the_server_satisfies_the_chart(chart_prerequisites: ClusterAccess) -> None:
    """Without --kube-version: helm asks the API server, and Chart.yaml's kubeVersion agrees."""
    result = chart_prerequisites.helm(
        "template", "probe", str(CHART), "--namespace", DRY_RUN_NAMESPACE, "--validate"
    )
    assert "kind: Deployment" in result.stdout


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_object_is_accepted_by_the_api_server(
    chart_prerequisites: ClusterAccess, value_set: str
) -> None:
    cluster = chart_prerequisites
    rendered = cluster.helm(
        "template",
        "ottc-dry",
        str(CHART),
        # Capabilities (the Kubernetes version, the API groups) come from the API server.
        "--validate",
        "--namespace",
        DRY_RUN_NAMESPACE,
        "--set",
        f"operator.peering.name={PEERING}-dry",
        "-f",
        str(VALUE_SETS[value_set]),
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    applied = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", "-o", "name", input=rendered
    ).stdout.split()
    assert len(applied) == len(docs)
    expected_kinds = {d["kind"].lower() for d in docs}
    assert {name.split("/")[0].split(".")[0] for name in applied} == expected_kinds


def _objects(cluster: ClusterAccess, kinds: str, namespace: str | None = None) -> list[str]:
    args = ["get", kinds, "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name"]
    if namespace:
        args += ["-n", namespace]
    return cluster.kubectl(*args).stdout.split()


NAMESPACED = "deployment,service,configmap,serviceaccount,role,rolebinding,networkpolicy"
CLUSTER_WIDE = "clusterrolebinding,clusterkopfpeering"


def _settings(cluster: ClusterAccess) -> dict[str, object]:
    config_map = json.loads(
        cluster.kubectl(
            "get",
            "configmap",
            f"{RELEASE}-ott-compliance-operator-settings",
            "-n",
            INSTALL_NAMESPACE,
            "-o",
            "json",
        ).stdout
    )
    settings: dict[str, object] = yaml.safe_load(config_map["data"]["settings.yaml"])
    return settings


def _operator(cluster: ClusterAccess) -> dict[str, Any]:
    deployment: dict[str, Any] = json.loads(
        cluster.kubectl(
            "get",
            "deployment",
            f"{RELEASE}-ott-compliance-operator",
            "-n",
            INSTALL_NAMESPACE,
            "-o",
            "json",
        ).stdout
    )
    return deployment


def test_install_upgrade_uninstall(chart_prerequisites: ClusterAccess) -> None:
    cluster = chart_prerequisites
    common = ["--namespace", INSTALL_NAMESPACE, "--set", f"operator.peering.name={PEERING}"]

    # Install: every object is there, owned by the release.
    installed = cluster.helm("install", RELEASE, str(CHART), *common, timeout=180).stdout
    # NOTES.txt: the next steps, with this release's names
    assert f"rollout status deployment/{RELEASE}-ott-compliance-operator" in installed
    assert "WARNING: no pool.database.secretName" in installed
    assert "kubectl apply -f examples/regulationsets/" in installed
    status = json.loads(cluster.helm("status", RELEASE, *common[:2], "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    names = set(_objects(cluster, NAMESPACED, INSTALL_NAMESPACE))
    assert {
        f"deployment.apps/{RELEASE}-ott-compliance-operator",
        f"deployment.apps/{RELEASE}-ott-compliance-pool",
        f"service/{RELEASE}-ott-compliance-pool",
        f"configmap/{RELEASE}-ott-compliance-operator-settings",
    } <= names
    assert len(_objects(cluster, CLUSTER_WIDE)) == 2
    assert _settings(cluster)["driftInterval"] == "60s"
    before = _operator(cluster)

    # Upgrade: a changed value reaches the objects, and the operator pods roll.
    cluster.helm(
        "upgrade",
        RELEASE,
        str(CHART),
        *common,
        "--set",
        "operator.settings.driftInterval=90s",
        "--set",
        "operator.replicas=3",
        timeout=180,
    )
    after = _operator(cluster)
    assert _settings(cluster)["driftInterval"] == "90s"
    assert after["spec"]["replicas"] == 3
    checksum = "checksum/settings"
    assert (
        after["spec"]["template"]["metadata"]["annotations"][checksum]
        != before["spec"]["template"]["metadata"]["annotations"][checksum]
    )
    history = json.loads(cluster.helm("history", RELEASE, *common[:2], "-o", "json").stdout)
    assert [revision["status"] for revision in history] == ["superseded", "deployed"]

    # Uninstall: the release's objects are gone; the CRDs (and so every tenant) stay.
    cluster.helm("uninstall", RELEASE, *common[:2], "--wait", "--timeout", "60s", timeout=120)
    assert _objects(cluster, NAMESPACED, INSTALL_NAMESPACE) == []
    assert _objects(cluster, CLUSTER_WIDE) == []
    listed = cluster.helm("list", *common[:2], "-q").stdout.split()
    assert RELEASE not in listed
    crds = cluster.kubectl("get", "crd", "-o", "name").stdout
    assert "compliancetenants.compliance.ott.dev" in crds


def test_bad_values_never_reach_the_cluster(chart_prerequisites: ClusterAccess) -> None:
    result = chart_prerequisites.helm(
        "install",
        "ottc-bad",
        str(CHART),
        "--namespace",
        INSTALL_NAMESPACE,
        "--set",
        "gateway.mode=nginx",
        check=False,
    )
    assert result.returncode != 0
    assert "at '/gateway/mode'" in result.stderr
    listed = chart_prerequisites.helm("list", "-A", "-q", "--all").stdout.split()
    assert "ottc-bad" not in listed


def test_helm_is_the_one_under_test(control_plane: ClusterAccess) -> None:
    version = subprocess.run(
        [str(control_plane.bin_dir / "helm"), "version", "--short"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.startswith("v3.")
