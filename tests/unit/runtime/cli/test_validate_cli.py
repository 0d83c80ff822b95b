"""`ottc validate`: exit status, summaries and file:rule:line:col errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ott_runtime.cli.validate import validate

REPO = Path(__file__).resolve().parents[4]
SETS = REPO / "examples" / "regulationsets"

BROKEN = """\
apiVersion: compliance.ott.dev/v1alpha1
kind: RegulationSet
metadata:
  name: broken
spec:
  jurisdiction: EU
  version: "1"
  parameters: {limit: 3}
  rules:
  - id: ok-rule
    severity: low
    appliesTo: [ad.impression]
    when: event.ad.durationSeconds > params.limit
    message: m
    reference: r
  - id: bad-rule
    severity: high
    appliesTo: [ad.impression]
    when: |-
      event.ad.targeted
        && params.limitt > 2
    message: m
    reference: r
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(validate, list(args))
    return result.exit_code, result.output


def test_catalog_and_tenants_are_valid() -> None:
    code, out = run(str(SETS), str(REPO / "examples" / "tenants"))
    assert code == 0, out
    assert f"{SETS / 'gdpr.yaml'}: RegulationSet gdpr 2016/679: 9 rules OK" in out


def test_broken_cel_rule_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    code, out = run(str(path))
    assert code == 1
    assert f"{path}:bad-rule:21:19: unknown parameter 'limitt'" in out
    assert "ok-rule" not in out


def test_syntax_error_position(tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text(BROKEN.replace("> params.limit\n", ">\n"))
    code, out = run(str(path))
    assert code == 1
    assert f"{path}:ok-rule:13:37: Syntax error" in out


def test_schema_error_uses_field_position(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(BROKEN.replace("severity: low", "severity: urgent"))
    code, out = run(str(path))
    assert code == 1
    assert f"{path}:-:11:15: spec.rules.0.severity" in out


def test_multiple_files_report_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    code, out = run(str(SETS / "coppa.yaml"), str(bad))
    assert code == 1
    assert "coppa.yaml: RegulationSet coppa" in out
    assert "bad-rule" in out


def test_unknown_disabled_rule_in_tenant_is_reported(tmp_path: Path) -> None:
    tenant = tmp_path / "t.yaml"
    tenant.write_text(
        "apiVersion: compliance.ott.dev/v1alpha1\nkind: ComplianceTenant\nmetadata: {name: t}\n"
        "spec:\n  displayName: T\n  regulations:\n  - name: coppa\n    disabledRules: [nope]\n"
    )
    code, out = run(str(SETS / "coppa.yaml"), str(tenant))
    assert code == 1
    assert "disabledRules names 'nope'" in out


def test_crd_schema_is_checked_too(tmp_path: Path) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "regset.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "spec:\n  names: {kind: RegulationSet}\n  versions:\n  - name: v1alpha1\n"
        "    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n"
        "          spec:\n            type: object\n            properties:\n"
        "              version: {type: string, maxLength: 1}\n"
        "            x-kubernetes-preserve-unknown-fields: true\n"
        "          apiVersion: {type: string}\n          kind: {type: string}\n"
        "          metadata: {type: object}\n"
    )
    path = tmp_path / "set.yaml"
    path.write_text(
        BROKEN.replace('version: "1"', 'version: "12"').replace("params.limitt", "params.limit")
    )
    code, out = run("--crds", str(crds), str(path))
    assert code == 1
    assert f"{path}:-:7:12: CRD schema: spec.version: '12' is too long" in out
    code, out = run(str(path))  # the repo's CRDs accept it
    assert code == 0, out


def test_yaml_boolean_lookalikes_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "norway.yaml"
    path.write_text(BROKEN.replace("parameters: {limit: 3}", "parameters: {limit: 3, c: [SE, NO]}")
                    .replace("params.limitt", "params.limit"))  # fmt: skip
    code, out = run(str(path))
    assert code == 1
    assert f"{path}:-:8:34: 'NO' is read as a boolean by YAML 1.1 (kubectl): quote it" in out


def test_a_mistyped_event_field_is_positioned_with_the_closest_path(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        BROKEN.replace("event.ad.targeted\n", "event.viewer.isKidProfile\n").replace(
            "params.limitt", "params.limit"
        )
    )
    code, out = run(str(path))
    assert code == 1
    assert (
        f"{path}:bad-rule:20:13: unknown event field 'viewer.isKidProfile': no ad.impression "
        "event has it (did you mean viewer.isKidsProfile?)"
    ) in out
