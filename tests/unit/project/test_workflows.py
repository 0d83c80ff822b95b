"""GitHub Actions workflows, checked by actionlint (built from its Go module, pinned, cached)
and by what each workflow promises to do."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT_VERSION = "v1.7.12"
ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint"


@cache
def actionlint() -> Path:
    """actionlint from PATH, else from the tools cache, else `go install`ed into it."""
    on_path = shutil.which("actionlint")
    if on_path:
        return Path(on_path)
    cache_root = Path(
        os.environ.get("OTTC_TOOLS_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "ott-compliance"
        / "tools"
    )
    bin_dir = cache_root / f"actionlint-{ACTIONLINT_VERSION}"
    binary = bin_dir / "actionlint"
    if not binary.is_file():
        go = shutil.which("go")
        if go is None:
            pytest.fail("actionlint needs Go to build (hack/bootstrap.sh installs it)")
        subprocess.run(
            [
                go,
                "install",
                "-trimpath",
                "-ldflags=-s -w",
                f"{ACTIONLINT_MODULE}@{ACTIONLINT_VERSION}",
            ],
            env={**os.environ, "GOBIN": str(bin_dir), "CGO_ENABLED": "0"},
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def run_lines(flow: dict[str, Any]) -> str:
    return "\n".join(
        step.get("run", "") for job in flow["jobs"].values() for step in job.get("steps", [])
    )


def uses(flow: dict[str, Any]) -> list[str]:
    return [
        step["uses"] for job in flow["jobs"].values() for step in job["steps"] if "uses" in step
    ]


def test_the_four_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS.glob("*.yml")} == {
        "ci.yml",
        "e2e-kind.yml",
        "release.yml",
        "deploy.yml",
    }


def test_actionlint_finds_nothing() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    result = subprocess.run(
        [str(actionlint()), "-color=false", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_really_linting(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ matrix.nope }}\n      - uses: actions/checkout\n"
    )
    result = subprocess.run(
        [str(actionlint()), "-color=false", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "matrix" in result.stdout


def test_every_action_is_pinned_to_a_version() -> None:
    for name in ("ci.yml", "e2e-kind.yml", "release.yml", "deploy.yml"):
        for action in uses(workflow(name)):
            assert "@" in action, f"{name}: {action} is not pinned"


def test_ci_runs_the_same_make_targets_as_a_developer() -> None:
    runs = run_lines(workflow("ci.yml"))
    for target in ("make lint", "make typecheck", "make test"):
        assert target in runs


def test_e2e_kind_builds_loads_installs_and_points_the_suite_at_kind() -> None:
    flow = workflow("e2e-kind.yml")
    runs = run_lines(flow)
    assert any(u.startswith("helm/kind-action@") for u in uses(flow))
    assert any(u.startswith("docker/build-push-action@") for u in uses(flow))
    assert "kind load docker-image" in runs
    assert "helm install ott-compliance helm/ott-compliance" in runs
    assert "kubectl apply -f examples/tenants/" in runs
    # the env var the control_plane fixture reads (tests/conftest.py)
    assert "OTTC_E2E_KUBECONFIG=" in runs
    assert "pytest tests/e2e" in runs


def test_release_builds_multi_arch_and_pushes_the_chart_on_tags() -> None:
    flow = workflow("release.yml")
    assert flow[True]["push"]["tags"] == ["v*.*.*"]  # YAML 1.1 reads `on` as True
    build = next(
        step
        for step in flow["jobs"]["image"]["steps"]
        if step.get("uses", "").startswith("docker/build-push-action@")
    )
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["with"]["push"] is True
    runs = run_lines(flow)
    assert "helm package helm/ott-compliance" in runs
    assert "helm push" in runs


def test_deploy_applies_the_rollout_and_rolls_back_on_failure() -> None:
    flow = workflow("deploy.yml")
    runs = run_lines(flow)
    assert "kubectl apply -k deploy/rollout/" in runs
    assert "-f deploy/rollout/values-canary.yaml" in runs
    assert "kubectl argo rollouts status" in runs
    rollback = [s for s in flow["jobs"]["canary"]["steps"] if s.get("if") == "failure()"]
    assert rollback
    assert "helm rollback" in rollback[0]["run"]


def test_rollout_canary_is_10_50_100_with_analysis() -> None:
    rollout = yaml.safe_load((REPO / "deploy" / "rollout" / "rollout.yaml").read_text())
    canary = rollout["spec"]["strategy"]["canary"]
    weights = [step["setWeight"] for step in canary["steps"] if "setWeight" in step]
    assert weights == [10, 50, 100]
    template = yaml.safe_load((REPO / "deploy" / "rollout" / "analysistemplate.yaml").read_text())
    assert canary["analysis"]["templates"][0]["templateName"] == template["metadata"]["name"]
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"error-rate", "p99-latency"}
    assert all("prometheus" in m["provider"] for m in metrics.values())
    assert all(m["failureLimit"] >= 1 for m in metrics.values())
    assert "histogram_quantile(0.99" in metrics["p99-latency"]["provider"]["prometheus"]["query"]
