"""Declared extensions: readable by rules once declared (by the tenant or a set), checked
to extend the schema, conflicting declarations refused, values checked by type and enum."""

from __future__ import annotations

from typing import Any

import pytest

from ott_runtime.domain.event_schema import EventExtension
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.rules import (
    RuleCompileError,
    RuleResolutionError,
    compile_rules,
    resolve_rules,
)
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest.schemas import event_validators

GENRE = {"path": "content.genre", "type": "string"}


def regulation(extensions: list[dict[str, Any]], when: str) -> RegulationSet:
    return RegulationSet.model_validate({
        "apiVersion": "compliance.ott.dev/v1alpha1", "kind": "RegulationSet",
        "metadata": {"name": "s"},
        "spec": {"jurisdiction": "EU", "version": "1", "eventSchema": {"extensions": extensions},
                 "rules": [{"id": "r", "severity": "low", "appliesTo": ["playback.start"],
                            "when": when, "message": "m", "reference": "r"}]},
    })  # fmt: skip


def tenant(extensions: list[dict[str, Any]] | None = None) -> ComplianceTenantSpec:
    schema = {"eventSchema": {"extensions": extensions}} if extensions else {}
    return ComplianceTenantSpec.model_validate(
        {"displayName": "T", "regulations": [{"name": "s"}], **schema}
    )


def errors(spec: ComplianceTenantSpec, regulation_set: RegulationSet) -> list[str]:
    with pytest.raises(RuleCompileError) as caught:
        compile_rules(resolve_rules(spec, {"s": regulation_set}))
    return [str(error) for error in caught.value.errors]


def test_a_rule_over_a_declared_field_compiles_and_an_undeclared_one_says_how() -> None:
    compile_rules(resolve_rules(tenant(), {"s": regulation([GENRE], "event.content.genre == 'x'")}))
    compile_rules(
        resolve_rules(tenant([GENRE]), {"s": regulation([], "event.content.genre == 'x'")})
    )
    (message,) = errors(tenant(), regulation([], "event.content.genre == 'x'"))
    assert "unknown event field 'content.genre'" in message
    assert "spec.eventSchema.extensions" in message


def test_a_declared_fields_type_is_checked_statically_too() -> None:
    (message,) = errors(tenant(), regulation([GENRE], "event.content.genre == 3"))
    assert "'content.genre' is a string, compared with the number 3" in message


@pytest.mark.parametrize(
    ("extension", "why"),
    [
        ({"path": "viewer.age", "type": "integer"}, "is a field of the event schema already"),
        ({"path": "player.skin", "type": "string"}, "'player' is not an object of the event"),
        ({"path": "viewer.x", "type": "string", "eventTypes": ["nope"]}, "unknown event type"),
    ],
)
def test_an_extension_must_extend_the_schema(extension: dict[str, Any], why: str) -> None:
    (message,) = errors(tenant([extension]), regulation([], "event.viewer.id == 'v'"))
    assert message.startswith(f"eventSchema/{extension['path']}:1:1: ")
    assert why in message


def test_the_tenant_and_a_set_must_agree_on_a_field() -> None:
    with pytest.raises(RuleResolutionError, match="declared differently by the tenant and"):
        resolve_rules(
            tenant([{"path": "content.genre", "type": "integer"}]),
            {"s": regulation([GENRE], "event.content.genre == 'x'")},
        )


def test_values_are_checked_by_type_and_enum() -> None:
    kinds = EventExtension.model_validate(
        {"path": "viewer.kind", "type": "stringList", "enum": ["a", "b"]}
    )
    assert kinds.check(["a", "b"]) is None
    assert kinds.check(["a", "c"]) == "not one of the declared values: a, b"
    assert kinds.check("a") is not None
    with pytest.raises(ValueError, match="only a string or stringList field takes an enum"):
        EventExtension.model_validate({"path": "viewer.n", "type": "integer", "enum": ["1"]})


def test_the_validator_keeps_declared_fields_and_refuses_the_rest() -> None:
    validate = event_validators({"content.genre": EventExtension.model_validate(GENRE)})[
        "playback.start"
    ]
    event = {"specVersion": "1", "id": "e", "type": "playback.start",
             "time": "2026-12-01T10:00:00Z", "content": {"id": "c", "genre": "drama"}}  # fmt: skip
    checked = validate(event)
    assert isinstance(checked, dict)
    assert checked["content"] == {"id": "c", "genre": "drama"}
    assert event["content"] == {"id": "c", "genre": "drama"}  # the input is left as it was
    refused = validate({**event, "content": {"id": "c", "genre": "drama", "mood": "x"}})
    assert isinstance(refused, list)
    assert [path for path, _ in refused] == ["content.mood"]
