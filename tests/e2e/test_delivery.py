"""Delivery objects on the real API server with the real third-party CRDs: the canary Rollout
and its AnalysisTemplate, the Argo CD objects, and the plain manifests rendered from the chart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from ott_runtime.devcluster import ClusterAccess

REPO = Path(__file__).resolve().parents[2]
ROLLOUT_DIR = REPO / "deploy" / "rollout"
ARGOCD_DIR = REPO / "examples" / "argocd"
MANIFESTS_DIR = REPO / "examples" / "manifests"


@pytest.fixture(scope="module")
def cluster(
    control_plane: ClusterAccess, thirdparty_crds: list[str], compliance_crds: list[str]
) -> ClusterAccess:
    control_plane.apply_crds(REPO / "helm" / "ott-compliance" / "crds" / "kopf-peering.yaml")
    for namespace in ("ott-compliance-system", "argocd"):
        manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return control_plane


def docs_of(*paths: Path) -> list[dict[str, Any]]:
    return [d for path in paths for d in yaml.safe_load_all(path.read_text()) if d]


def dry_run(cluster: ClusterAccess, docs: list[dict[str, Any]]) -> list[str]:
    """Server-side dry run of every document; returns kubectl's `kind/name` lines."""
    text = "\n---\n".join(json.dumps(d) for d in docs)
    applied = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", "-o", "name", input=text
    ).stdout.split()
    assert len(applied) == len(docs)
    return applied


def test_rollout_and_analysis_template_are_valid_argo_rollouts_objects(
    cluster: ClusterAccess,
) -> None:
    docs = docs_of(
        *(ROLLOUT_DIR / name for name in ("rollout.yaml", "analysistemplate.yaml", "hpa.yaml"))
    )
    applied = dry_run(cluster, docs)
    assert "rollout.argoproj.io/ott-compliance-pool" in applied
    assert "analysistemplate.argoproj.io/ott-compliance-canary-health" in applied


def test_kustomization_lists_every_rollout_manifest() -> None:
    kustomization = yaml.safe_load((ROLLOUT_DIR / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {
        p.name
        for p in ROLLOUT_DIR.glob("*.yaml")
        if p.name not in {"kustomization.yaml", "values-canary.yaml"}
    }


def test_the_api_server_refuses_a_broken_rollout(cluster: ClusterAccess) -> None:
    """The dry runs above are meaningful: the real CRD schema rejects a wrong field type."""
    (rollout,) = docs_of(ROLLOUT_DIR / "rollout.yaml")
    rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "ten percent"
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=json.dumps(rollout), check=False
    )
    assert result.returncode != 0
    assert "setWeight" in result.stderr


def test_argocd_application_and_health_config_are_accepted(cluster: ClusterAccess) -> None:
    app_set_file = docs_of(ARGOCD_DIR / "applicationset.yaml")
    applications = [d for d in app_set_file if d["kind"] == "Application"]
    docs = docs_of(ARGOCD_DIR / "application.yaml", ARGOCD_DIR / "argocd-cm-health.yaml")
    applied = dry_run(cluster, docs + applications)
    assert "application.argoproj.io/ott-compliance" in applied
    assert "configmap/argocd-cm" in applied
    # tests/fixtures/thirdparty-crds has Argo CD's Application and AppProject CRDs only; the
    # ApplicationSet is applied when the cluster serves it (e.g. kind with Argo CD installed).
    served = cluster.kubectl("api-resources", "--api-group=argoproj.io", "-o", "name").stdout
    if "applicationsets.argoproj.io" in served.split():
        app_sets = [d for d in app_set_file if d["kind"] == "ApplicationSet"]
        dry_run(cluster, app_sets)


def test_applications_the_application_set_generates_are_valid(cluster: ClusterAccess) -> None:
    """What the git directory generator makes, one Application per tenant folder, checked by
    the real Application CRD (the ApplicationSet CRD itself is not in shared/)."""
    (app_set,) = [
        d for d in docs_of(ARGOCD_DIR / "applicationset.yaml") if d["kind"] == "ApplicationSet"
    ]
    (generator,) = app_set["spec"]["generators"]
    (directory,) = generator["git"]["directories"]
    template = json.dumps(app_set["spec"]["template"])
    folders = sorted(p for p in REPO.glob(directory["path"]) if p.is_dir())
    generated = []
    for folder in folders:
        variables = {
            "{{ .path.basename }}": folder.name,
            "{{ .path.path }}": folder.relative_to(REPO).as_posix(),
        }
        text = template
        for placeholder, value in variables.items():
            text = text.replace(placeholder, value)
        assert "{{" not in text, f"unknown template variable in {text}"
        spec = json.loads(text)
        metadata = {**spec["metadata"], "namespace": app_set["metadata"]["namespace"]}
        generated.append(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": metadata,
                "spec": spec["spec"],
            }
        )
    applied = dry_run(cluster, generated)
    assert applied == [f"application.argoproj.io/tenants-{folder.name}" for folder in folders]


def test_gitops_tenant_folders_hold_valid_tenants(cluster: ClusterAccess) -> None:
    tenants = docs_of(*sorted(ARGOCD_DIR.glob("tenants/*/*.yaml")))
    applied = dry_run(cluster, tenants)
    assert all(name.startswith("compliancetenant.compliance.ott.dev/") for name in applied)


@pytest.mark.parametrize("value_set", sorted(p.name for p in MANIFESTS_DIR.iterdir() if p.is_dir()))
def test_plain_manifests_apply(cluster: ClusterAccess, value_set: str) -> None:
    docs = docs_of(
        MANIFESTS_DIR / "namespace.yaml", *sorted((MANIFESTS_DIR / value_set).glob("*.yaml"))
    )
    applied = dry_run(cluster, docs)
    assert any(name.startswith("deployment.apps/") for name in applied)
