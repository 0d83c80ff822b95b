"""Positioned YAML loading: multi-document files, typed resources, file:line:col errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ott_runtime.domain.documents import (
    DocumentErrors,
    load_documents,
    load_resources,
    parse_document,
)
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.tenant import ComplianceTenant

REPO = Path(__file__).resolve().parents[4]

TWO_DOCS = """\
apiVersion: compliance.ott.dev/v1alpha1
kind: RegulationSet
metadata: {name: s}
spec:
  jurisdiction: EU
  version: "1"
  rules:
  - id: r
    severity: low
    appliesTo: [ad.impression]
    when: "event.ad.targeted"
    message: m
    reference: x
---
apiVersion: compliance.ott.dev/v1alpha1
kind: ComplianceTenant
metadata: {name: t}
spec:
  displayName: T
  plan: gold
"""


def test_multi_document_file_keeps_positions() -> None:
    first, second = load_documents("two.yaml", TWO_DOCS)
    assert isinstance(parse_document(first), RegulationSet)
    assert first.position(("spec", "rules", 0, "when")) == (11, 11)
    assert first.expression_position(("spec", "rules", 0, "when"), 1, 10) == (11, 21)
    with pytest.raises(DocumentErrors) as info:
        parse_document(second)
    (error,) = info.value.errors
    assert (error.file, error.line, error.column) == ("two.yaml", 20, 9)
    assert "spec.plan" in error.message
    assert str(error).startswith("two.yaml:-:20:9: spec.plan")


def test_missing_field_points_at_its_parent() -> None:
    text = TWO_DOCS.split("---\n")[0].replace("    reference: x\n", "")
    with pytest.raises(DocumentErrors) as info:
        parse_document(load_documents("s.yaml", text)[0])
    (error,) = info.value.errors
    assert (error.line, error.column) == (8, 5)  # the rule's mapping
    assert "reference" in error.message


def test_yaml_syntax_error_is_positioned() -> None:
    with pytest.raises(DocumentErrors) as info:
        load_documents("bad.yaml", "kind: RegulationSet\nspec: [1, 2\n")
    (error,) = info.value.errors
    assert error.file == "bad.yaml"
    assert error.line >= 2
    assert error.message.startswith("YAML:")


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(DocumentErrors, match="kind: 'Deployment' is not one of"):
        parse_document(load_documents("d.yaml", "kind: Deployment\n")[0])


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("when: |-\n      event.ad.targeted\n        && params.x > 1", (13, 19)),
        ("when: >-\n      event.ad.targeted\n        && params.x > 1", (13, 19)),
        ("when: >-\n      event.ad.targeted\n      && params.x > 1", (13, 17)),
        ("when: event.ad.targeted\n      && params.x > 1", (12, 17)),
        ("when: 'event.ad.targeted && params.x > 1'", (11, 40)),
        ('when: "event.ad.targeted\n      && params.x > 1"', (12, 17)),
    ],
)
def test_expression_positions_for_each_scalar_style(style: str, expected: tuple[int, int]) -> None:
    text = TWO_DOCS.split("---\n")[0].replace('when: "event.ad.targeted"', style)
    (document,) = load_documents("s.yaml", text)
    value = document.data["spec"]["rules"][0]["when"]
    offset = value.index("params.x") + len("params.")
    line = value.count("\n", 0, offset) + 1
    column = offset - (value.rfind("\n", 0, offset) + 1) + 1
    assert document.expression_position(("spec", "rules", 0, "when"), line, column) == expected


def test_load_resources_reads_the_examples() -> None:
    sets, tenants = load_resources(
        [REPO / "examples" / "regulationsets", REPO / "examples" / "tenants"]
    )
    assert {"gdpr", "coppa", "eu-avmsd"} <= set(sets)
    assert all(isinstance(t, ComplianceTenant) for t in tenants.values())
    assert any(t.spec.isolation.value == "pooled" for t in tenants.values())


def test_a_resource_defined_twice_is_an_error(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    set_only = TWO_DOCS.split("---\n")[0]
    first.write_text(set_only)
    second.write_text(set_only)
    with pytest.raises(DocumentErrors) as info:
        load_resources([tmp_path])
    (error,) = info.value.errors
    assert (error.file, error.line, error.column) == (str(second), 3, 18)
    assert "RegulationSet 's' is defined twice" in error.message
