"""Type mismatches the rule's text shows are compile errors at their position; what only
an event can show is left to evaluation (and counted in the rule's health)."""

from __future__ import annotations

import pytest

from ott_runtime.domain.static_types import type_problems

AD = ["ad.impression"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("event.viewer.age == '13'", "'viewer.age' is an integer, compared with the string '13'"),
        ("13 == event.viewer.country", "'viewer.country' is a string, compared with the number 13"),
        ("event.viewer.isKidsProfile == 1", "'viewer.isKidsProfile' is a boolean, compared with"),
        ("'x' in event.viewer.id", "'in' needs a list or map, but 'viewer.id' is a string"),
        ("event.time > '2026-01-01'", "'time' is an RFC 3339 timestamp: '>' with a string"),
    ],
)
def test_a_mismatch_in_the_text_is_reported(source: str, message: str) -> None:
    problems = list(type_problems(source, AD))
    assert len(problems) == 1, problems
    assert problems[0][1].startswith(message)
    assert problems[0][0] == source.index("event.") + len("event.")


@pytest.mark.parametrize(
    "source",
    [
        "event.viewer.age > 12",
        "event.ad.durationSeconds > 60.5",
        "'x' in event.viewer.consentedPurposes",
        "event.viewer.id == null",
        "5 < event.viewer.id.size()",  # the size, not the string, is compared
        "event.viewer.country == 'a' + 'b'",
        "size(event.ad.id) > '3'",  # only an event shows this one
        "timestamp(event.time) > timestamp('2026-01-01T00:00:00Z')",
        "event.viewer.age > params.minAge",
    ],
)
def test_what_the_text_does_not_settle_is_left_alone(source: str) -> None:
    assert list(type_problems(source, AD)) == []


def test_compile_refuses_a_mismatch_at_its_line_and_column() -> None:
    from ott_runtime.domain.rules import RuleCompileError, compile_rules, resolve_rules
    from ott_runtime.domain.tenant import ComplianceTenantSpec

    when = "event.ad.targeted &&\n  event.viewer.age < '18'"
    spec = ComplianceTenantSpec.model_validate({
        "displayName": "T",
        "customRules": [{"id": "teen", "severity": "low", "appliesTo": AD, "message": "m",
                         "reference": "r", "when": when}],
    })  # fmt: skip
    with pytest.raises(RuleCompileError) as caught:
        compile_rules(resolve_rules(spec, {}))
    assert [str(e) for e in caught.value.errors] == [
        "custom/teen:2:9: 'viewer.age' is an integer, compared with the string '18'"
    ]
