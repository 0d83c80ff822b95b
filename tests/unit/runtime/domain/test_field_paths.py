"""A rule or aggregate over a field no event of its types can carry is a compile error
(it could never fire, and nothing at run time would say so), reported for every such
read at once, with its position and the closest known paths."""

from __future__ import annotations

from typing import Any

import pytest

from ott_runtime.domain.field_paths import (
    event_fields,
    event_path_reads,
    lookup,
    unknown_path_message,
)
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.rules import RuleCompileError, compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenantSpec


def compile_set(rules: list[dict[str, Any]], **spec: Any) -> None:
    regulation = RegulationSet.model_validate({
        "apiVersion": "compliance.ott.dev/v1alpha1", "kind": "RegulationSet",
        "metadata": {"name": "s"},
        "spec": {"jurisdiction": "EU", "version": "1", "rules": rules, **spec},
    })  # fmt: skip
    tenant = ComplianceTenantSpec.model_validate(
        {"displayName": "T", "regulations": [{"name": "s"}]}
    )
    compile_rules(resolve_rules(tenant, {"s": regulation}))


def rule(rule_id: str, when: str, types: list[str], message: str = "fired") -> dict[str, Any]:
    return {"id": rule_id, "severity": "high", "appliesTo": types, "when": when,
            "message": message, "reference": "Art. 1"}  # fmt: skip


def errors_of(rules: list[dict[str, Any]], **spec: Any) -> list[str]:
    with pytest.raises(RuleCompileError) as caught:
        compile_set(rules, **spec)
    return [str(error) for error in caught.value.errors]


def test_paths_are_read_up_to_a_method_call() -> None:
    reads = list(event_path_reads("has(event.geo.country) && event.content.title.startsWith('x')"))
    assert [path for _, path in reads] == ["geo.country", "content.title"]
    assert list(event_path_reads("size(event) > 1 && x.event.y == 1")) == []


def test_the_tree_follows_the_json_schema() -> None:
    ad = event_fields("ad.impression")
    node = lookup(ad, "ad.durationSeconds")
    assert node is not None
    assert node.kind == "number"
    assert lookup(ad, "viewer.isKidsProfile") is not None
    assert lookup(ad, "playback.positionSeconds") is None  # playback is not part of an ad event
    assert lookup(event_fields("playback.start"), "playback") is not None


def test_a_mistyped_field_names_the_type_and_the_closest_path() -> None:
    message = unknown_path_message("viewer.isKidProfile", ["ad.impression"])
    assert message is not None
    assert "ad.impression" in message
    assert "did you mean viewer.isKidsProfile?" in message
    assert unknown_path_message("viewer.isKidsProfile", ["ad.impression"]) is None


def test_a_field_some_applicable_type_has_is_fine() -> None:
    # playback only exists on playback events; the rule applies to one of them as well
    assert (
        unknown_path_message("playback.positionSeconds", ["ad.impression", "playback.start"])
        is None
    )


def test_every_unknown_read_is_reported_with_its_position() -> None:
    errors = errors_of([
        rule("kids", "event.viewer.isKidProfile && event.ad.targeted", ["ad.impression"],
             message="ad {{event.ad.idd}}"),
        rule("geo", "has(event.geo.countri)", ["playback.start"]),
        rule("fine", "event.ad.targeted", ["ad.impression"]),
    ])  # fmt: skip
    assert len(errors) == 3, errors
    kids_when, kids_message, geo = errors
    assert kids_when.startswith("s/kids:1:7: unknown event field 'viewer.isKidProfile'")
    assert "message: unknown event field 'ad.idd'" in kids_message
    assert "did you mean ad.id?" in kids_message
    assert geo.startswith("s/geo:1:11: unknown event field 'geo.countri'")
    assert "did you mean geo.country?" in geo


def test_an_aggregates_field_group_and_filter_are_checked() -> None:
    errors = errors_of(
        [rule("hourly", "aggregates.adSeconds > 10", ["ad.impression"])],
        aggregates=[{
            "name": "adSeconds", "of": "ad.impression", "field": "ad.durationSecs",
            "fn": "sum", "window": "1h", "groupBy": ["content.chanelId"],
            "where": "event.viewer.isKid",
        }],
    )  # fmt: skip
    assert len(errors) == 3, errors
    assert any("'ad.durationSecs'" in e and "ad.durationSeconds" in e for e in errors)
    assert any("'content.chanelId'" in e and "content.channelId" in e for e in errors)
    assert any("'viewer.isKid'" in e and "viewer.isKidsProfile" in e for e in errors)


def test_known_paths_compile() -> None:
    compile_set(
        [rule("kids-ad", "event.viewer.isKidsProfile && event.ad.targeted", ["ad.impression"],
              message="ad {{event.ad.id}} on {{event.content.channelId}}")],
        aggregates=[{"name": "adSeconds", "of": "ad.impression", "field": "ad.durationSeconds",
                     "fn": "sum", "window": "1h", "groupBy": ["content.channelId"]}],
    )  # fmt: skip
