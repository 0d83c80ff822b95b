"""Argo CD objects in examples/argocd/, without Argo CD.

The two Lua health checks are taken from the argocd-cm patch itself (the one source) and run
by the real Lua 5.4 interpreter the way Argo CD runs them: a chunk that sees the resource as
the global `obj` and returns {status, message}.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ARGOCD = REPO / "examples" / "argocd"
HEALTH_KEY = "resource.customizations.health.compliance.ott.dev_{kind}"


def _lua_literal(value: Any) -> str:
    """A Python value (from YAML) as a Lua table constructor."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(_lua_literal(item) for item in value) + "}"
    if isinstance(value, dict):
        fields = (f"[{_lua_literal(str(k))}] = {_lua_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(fields) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def _health(kind: str, obj: dict[str, Any], tmp_path: Path) -> tuple[str, str]:
    lua = shutil.which("lua5.4")
    if lua is None:
        pytest.fail("lua5.4 not found: hack/bootstrap.sh installs it (apt-get install lua5.4)")
    config_map = yaml.safe_load((ARGOCD / "argocd-cm-health.yaml").read_text())
    script = tmp_path / f"{kind}.lua"
    script.write_text(config_map["data"][HEALTH_KEY.format(kind=kind)])
    harness = tmp_path / "harness.lua"
    harness.write_text(
        f"obj = {_lua_literal(obj)}\n"
        f'local hs = assert(loadfile("{script}", "t"))()\n'
        'io.write(hs.status, "\\n", hs.message or "")\n'
    )
    result = subprocess.run([lua, str(harness)], capture_output=True, text=True, check=True)
    status, _, message = result.stdout.partition("\n")
    return status, message


def _tenant(status: dict[str, Any] | None, generation: int = 3) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": "acme", "generation": generation},
        "spec": {"displayName": "Acme"},
    }
    if status is not None:
        obj["status"] = status
    return obj


def _ready(status: str, message: str) -> list[dict[str, Any]]:
    return [
        {"type": "KeysReady", "status": "True", "reason": "Rotated", "message": "keys ok"},
        {"type": "Ready", "status": status, "reason": "Reconciled", "message": message},
    ]


@pytest.mark.parametrize(
    ("status", "expected", "message_part"),
    [
        (None, "Progressing", "Waiting for the operator"),
        ({"phase": "Provisioning", "observedGeneration": 3}, "Progressing", "Provisioning"),
        (
            {
                "phase": "Ready",
                "observedGeneration": 3,
                "endpoint": "https://api.acme.example/tenants/acme",
                "conditions": _ready("True", "All 5 conditions hold"),
            },
            "Healthy",
            "All 5 conditions hold",
        ),
        (
            {"phase": "Ready", "observedGeneration": 3, "endpoint": "https://a.example/t"},
            "Healthy",
            "https://a.example/t",
        ),
        (
            {
                "phase": "Degraded",
                "observedGeneration": 3,
                "conditions": _ready("False", "ScoringAvailable: 0/2 replicas"),
            },
            "Degraded",
            "0/2 replicas",
        ),
        ({"phase": "Error", "observedGeneration": 3}, "Degraded", "Error"),
        ({"phase": "Suspended", "observedGeneration": 3}, "Suspended", "Suspended"),
        # Ready, but for an older spec: the new one is still being rolled out.
        ({"phase": "Ready", "observedGeneration": 2}, "Progressing", "generation 3"),
    ],
)
def test_compliance_tenant_health(
    status: dict[str, Any] | None, expected: str, message_part: str, tmp_path: Path
) -> None:
    got, message = _health("ComplianceTenant", _tenant(status), tmp_path)
    assert got == expected
    assert message_part in message


def _regulation_set(conditions: list[dict[str, Any]] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": "RegulationSet", "metadata": {"name": "gdpr", "generation": 2}}
    if conditions is not None:
        obj["status"] = {"ruleCount": 12, "observedGeneration": 2, "conditions": conditions}
    return obj


@pytest.mark.parametrize(
    ("conditions", "expected", "message_part"),
    [
        (None, "Progressing", "Waiting"),
        ([], "Progressing", "Waiting"),
        ([{"type": "Compiled", "status": "True", "observedGeneration": 2}], "Healthy", "12 rules"),
        (
            [
                {
                    "type": "Compiled",
                    "status": "False",
                    "reason": "CompileError",
                    "message": "rule ad-time-limit: 1:12: undeclared reference",
                    "observedGeneration": 2,
                }
            ],
            "Degraded",
            "ad-time-limit",
        ),
        ([{"type": "Compiled", "status": "Unknown", "observedGeneration": 2}], "Progressing", ""),
        ([{"type": "Compiled", "status": "True", "observedGeneration": 1}], "Progressing", "2"),
    ],
)
def test_regulation_set_health(
    conditions: list[dict[str, Any]] | None, expected: str, message_part: str, tmp_path: Path
) -> None:
    got, message = _health("RegulationSet", _regulation_set(conditions), tmp_path)
    assert got == expected
    assert message_part in message


def test_application_set_finds_one_folder_of_tenants_per_application() -> None:
    (app_set, _regulation_sets) = yaml.safe_load_all((ARGOCD / "applicationset.yaml").read_text())
    (generator,) = app_set["spec"]["generators"]
    (directory,) = generator["git"]["directories"]
    folders = sorted(p for p in REPO.glob(directory["path"]) if p.is_dir())
    assert len(folders) >= 2
    for folder in folders:
        docs = [d for f in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
        assert docs, f"{folder} holds no manifests"
        assert {d["kind"] for d in docs} == {"ComplianceTenant"}, folder
    assert app_set["spec"]["template"]["spec"]["source"]["path"] == "{{ .path.path }}"


def test_application_points_at_the_chart() -> None:
    app = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    assert (REPO / app["spec"]["source"]["path"] / "Chart.yaml").is_file()
