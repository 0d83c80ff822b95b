"""Rules convert only the event fields (two levels deep) and aggregates they can read;
evaluation must give the same hits, misses and messages as converting everything."""

from __future__ import annotations

from typing import Any

import pytest

from ott_runtime.domain.cel_expressions import event_paths, trim_event_paths
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.rules import compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenantSpec


def test_event_paths_reads_one_level_below_sections() -> None:
    paths = event_paths(["event.viewer.age > 3 && has(event.geo)", "event.ad.id == 'x'"])
    assert paths == {"viewer": {"age"}, "geo": set(), "ad": {"id"}}


@pytest.mark.parametrize(
    "source",
    [
        "size(event.viewer) == 2",
        "event.viewer.size() == 2",
        "'age' in event.viewer",
        "event.viewer['age'] == 3",
        "event.viewer.?age.orValue(0) == 3",
        "has(event.viewer) && event.viewer == {'age': 3}",
    ],
)
def test_a_section_read_as_a_whole_is_kept_whole(source: str) -> None:
    paths = event_paths([source, "event.viewer.age > 1"])
    assert paths is not None
    assert paths["viewer"] is None


@pytest.mark.parametrize("source", ["size(event) > 1", "event.size() > 1", "event == {}"])
def test_the_event_read_as_a_whole_is_kept_whole(source: str) -> None:
    assert event_paths([source]) is None


def test_trim_keeps_only_read_fields_and_non_map_values() -> None:
    event = {"viewer": {"age": 3, "email": "a@b"}, "geo": "DE", "time": "t", "ad": {"id": 1}}
    trimmed = trim_event_paths(event, {"viewer": frozenset({"age", "x"}), "geo": frozenset()})
    assert trimmed == {"viewer": {"age": 3}, "geo": "DE"}
    assert trim_event_paths(event, None) == event


def _rule(rule_id: str, when: str, message: str = "") -> dict[str, Any]:
    return {"id": rule_id, "severity": "high", "appliesTo": ["ad.impression"], "when": when,
            "message": message or f"{rule_id} fired", "reference": "Art. 1"}  # fmt: skip


def _compiled(rules: list[dict[str, Any]]) -> Any:
    regulation = RegulationSet.model_validate({
        "apiVersion": "compliance.ott.dev/v1alpha1", "kind": "RegulationSet",
        "metadata": {"name": "ads"},
        "spec": {"jurisdiction": "EU", "version": "1", "rules": rules,
                 "aggregates": [{"name": "n", "of": "ad.impression", "fn": "count",
                                 "window": "1h"}]},
    })  # fmt: skip
    spec = ComplianceTenantSpec.model_validate(
        {"displayName": "T", "regulations": [{"name": "ads"}], "customRules": []}
    )
    return compile_rules(resolve_rules(spec, {"ads": regulation}))


def test_trimmed_evaluation_matches_whole_event() -> None:
    rules = [
        _rule("age", "event.viewer.age > 3", "age {{event.viewer.email}} n={{aggregates.n}}"),
        _rule("has-age", "has(event.viewer.age)"),
        _rule("whole", "size(event.viewer) == 2"),
        _rule("missing", "event.viewer.country == 'DE'"),
        _rule("count", "aggregates.n > 1"),
    ]
    event = {"specVersion": "1", "id": "e1", "type": "ad.impression",
             "time": "2026-01-01T00:00:00Z", "viewer": {"age": 5, "email": "v@x"}}  # fmt: skip
    hits = _compiled(rules).evaluate(event, {"ads": {"n": 2}})
    assert [(h.rule_id, h.message) for h in hits] == [
        ("age", "age v@x n=2"),
        ("has-age", "has-age fired"),
        ("whole", "whole fired"),
        ("count", "count fired"),
    ]


def test_message_reads_aggregates_a_condition_does_not() -> None:
    compiled = _compiled([_rule("msg", "event.viewer.age > 3", "n={{aggregates.n}}")])
    event = {"specVersion": "1", "id": "e1", "type": "ad.impression", "time": "t",
             "viewer": {"age": 5}}  # fmt: skip
    assert [h.message for h in compiled.evaluate(event, {"ads": {"n": 7}})] == ["n=7"]
    assert compiled.stats.missing == {}
