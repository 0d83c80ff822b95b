"""The rule engine: resolution, compile errors for all rules, evaluation semantics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ott_runtime.domain.regulation import RegulationSet, Severity
from ott_runtime.domain.rules import (
    MissingRegulationSets,
    ResolvedRules,
    RuleCompileError,
    RuleResolutionError,
    compile_rules,
    resolve_rules,
)
from ott_runtime.domain.tenant import ComplianceTenantSpec


def rule(rule_id: str, when: str, **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "severity": extra.pop("severity", "high"),
            "appliesTo": extra.pop("appliesTo", ["ad.impression"]), "when": when,
            "message": extra.pop("message", f"{rule_id} fired"),
            "reference": extra.pop("reference", "Test Art. 1"), **extra}  # fmt: skip


def regset(name: str, rules: list[dict[str, Any]], **spec: Any) -> RegulationSet:
    return RegulationSet.model_validate({
        "apiVersion": "compliance.ott.dev/v1alpha1", "kind": "RegulationSet",
        "metadata": {"name": name},
        "spec": {"jurisdiction": "EU", "version": "1", "rules": rules, **spec},
    })  # fmt: skip


def tenant(
    regulations: list[dict[str, Any]], custom: Sequence[dict[str, Any]] = ()
) -> ComplianceTenantSpec:
    return ComplianceTenantSpec.model_validate(
        {"displayName": "T", "regulations": regulations, "customRules": list(custom)}
    )


ADS = regset(
    "ads",
    [
        rule("too-long", "event.ad.durationSeconds > params.maxSeconds",
             message="Ad {{event.ad.id}} over {{params.maxSeconds}} s"),
        rule("hourly", "aggregates.secondsLastHour > params.perHour", severity="critical",
             message="{{aggregates.secondsLastHour}} s in the last hour"),
        rule("targeted", "event.ad.targeted", severity="low"),
        rule("kids-profile", "event.viewer.isKidsProfile", appliesTo=["playback.start"]),
    ],
    parameters={"maxSeconds": 60, "perHour": 720},
    aggregates=[{"name": "secondsLastHour", "of": "ad.impression", "field": "ad.durationSeconds",
                 "fn": "sum", "window": "1h"}],
)  # fmt: skip
SETS = {"ads": ADS}


def ad(seconds: float = 30, targeted: bool = False, **extra: Any) -> dict[str, Any]:
    return {"specVersion": "1", "id": "e1", "type": "ad.impression",
            "time": "2026-11-26T14:00:00Z",
            "ad": {"id": "a1", "durationSeconds": seconds, "targeted": targeted},
            **extra}  # fmt: skip


# --- resolve -------------------------------------------------------------------------------


def test_resolve_merges_overrides_disables_and_adds_custom_rules() -> None:
    spec = tenant(
        [{"name": "ads", "parameters": {"maxSeconds": 45}, "disabledRules": ["targeted"]}],
        [rule("house", "event.ad.durationSeconds > 10.0")],
    )
    resolved = resolve_rules(spec, SETS)
    ids = [r.qualified_id for r in resolved.rules]
    assert ids == ["ads/too-long", "ads/hourly", "ads/kids-profile", "custom/house"]
    assert resolved.rules[0].params["maxSeconds"] == 45
    assert resolved.rules[0].params["perHour"] == 720
    assert ADS.spec.parameters["maxSeconds"] == 60  # the set itself is untouched
    assert resolved.regulations == [
        {"name": "ads", "version": "1", "rules": 3},
        {"name": "custom", "version": "tenant", "rules": 1},
    ]
    assert [a.name for a in resolved.aggregates["ads"]] == ["secondsLastHour"]


def test_missing_sets_are_all_named() -> None:
    with pytest.raises(MissingRegulationSets) as info:
        resolve_rules(tenant([{"name": "gdpr"}, {"name": "ads"}, {"name": "coppa"}]), SETS)
    assert info.value.names == ["coppa", "gdpr"]
    assert isinstance(info.value, LookupError)


def test_unknown_disabled_rule_and_parameter_are_errors() -> None:
    spec = tenant([{"name": "ads", "disabledRules": ["nope"], "parameters": {"maxSecs": 1}}])
    with pytest.raises(RuleResolutionError) as info:
        resolve_rules(spec, SETS)
    assert len(info.value.problems) == 2
    assert "'nope', which is not a rule of this set" in str(info.value)
    assert "'maxSecs' is not a parameter" in str(info.value)


def test_config_round_trip_and_digest() -> None:
    resolved = resolve_rules(tenant([{"name": "ads"}], [rule("house", "true")]), SETS)
    config = json.loads(json.dumps(resolved.to_config()))
    again = ResolvedRules.from_config(config)
    assert again == resolved
    assert again.digest() == resolved.digest()
    other = resolve_rules(tenant([{"name": "ads", "parameters": {"maxSeconds": 1}}]), SETS)
    assert other.digest() != resolved.digest()
    with pytest.raises(ValueError, match="not a ResolvedRules config"):
        ResolvedRules.from_config({"kind": "Other", "regulations": []})


# --- compile -------------------------------------------------------------------------------


def test_compile_collects_errors_of_all_rules_with_positions() -> None:
    bad = regset(
        "bad",
        [
            rule("syntax", "event.ad.durationSeconds >"),
            rule("not-bool", "event.ad.durationSeconds * 2"),
            rule("unknown-param", "event.ad.durationSeconds >\n  params.nope"),
            rule("unknown-fn", "lower(event.ad.category) == 'x'"),
            rule("bad-message", "true", message="{{params.zzz}} {{foo.bar}}"),
            rule("fine", "event.ad.targeted"),
        ],
        parameters={"max": 1},
    )
    with pytest.raises(RuleCompileError) as info:
        compile_rules(resolve_rules(tenant([{"name": "bad"}]), {"bad": bad}))
    found = {(e.rule_id, e.line, e.column, e.field) for e in info.value.errors}
    assert ("syntax", 1, 27, "when") in found
    assert ("not-bool", 1, 26, "when") in found
    assert ("unknown-param", 2, 10, "when") in found
    assert ("unknown-fn", 1, 1, "when") in found
    assert ("bad-message", 1, 3, "message") in found
    assert ("bad-message", 1, 18, "message") in found
    assert all(e.rule_id != "fine" for e in info.value.errors)
    assert all(e.regulation == "bad" for e in info.value.errors)


@pytest.mark.parametrize(
    "when",
    [
        "1",
        "'text'",
        "-event.ad.durationSeconds",
        "event.ad.durationSeconds + 1",
        "null",
        "size(event.ad.id)",
        "timestamp(event.time).getHours()",
        "[1, 2]",
        "{'a': true}",
        "[1].map(x, x > 0)",
    ],
)
def test_non_boolean_conditions_are_rejected(when: str) -> None:
    spec = tenant([], [rule("r", when)])
    with pytest.raises(RuleCompileError, match="must be boolean"):
        compile_rules(resolve_rules(spec, {}))


@pytest.mark.parametrize(
    "when",
    ["event.ad.targeted", "has(event.ad.id)", "(1 + 2) > 2", "[1].exists(x, x > 0)",
     "event.ad.durationSeconds > 1 ? true : false", "!event.ad.targeted",
     "event.ad.id.startsWith('a')", "(event.ad.targeted)", "[true][0]",
     "{'a': true}['a']", "size(event.ad.id) > 2"],
)  # fmt: skip
def test_boolean_conditions_compile(when: str) -> None:
    compile_rules(resolve_rules(tenant([], [rule("r", when)]), {}))


def test_unknown_event_type_in_applies_to_is_an_error() -> None:
    spec = tenant([], [rule("r", "true", appliesTo=["ad.clicked"])])
    with pytest.raises(RuleCompileError, match="not an event type"):
        compile_rules(resolve_rules(spec, {}))


def test_aggregate_where_filters_are_compiled() -> None:
    bad = regset("w", [rule("r", "true")], aggregates=[
        {"name": "n", "of": "ad.impression", "fn": "count", "window": "1h", "where": "event.ad. =="}
    ])  # fmt: skip
    with pytest.raises(RuleCompileError) as info:
        compile_rules(resolve_rules(tenant([{"name": "w"}]), {"w": bad}))
    assert info.value.errors
    assert {(e.regulation, e.rule_id, e.field) for e in info.value.errors} == {("w", "n", "where")}


# --- evaluate ------------------------------------------------------------------------------


COMPILED = compile_rules(resolve_rules(tenant([{"name": "ads"}]), SETS))


def test_evaluate_renders_messages_and_only_matching_types() -> None:
    hits = COMPILED.evaluate(ad(90, targeted=True), {"ads": {"secondsLastHour": 800.0}})
    by_id = {h.qualified_id: h for h in hits}
    assert set(by_id) == {"ads/too-long", "ads/hourly", "ads/targeted"}
    assert by_id["ads/too-long"].message == "Ad a1 over 60 s"
    assert by_id["ads/hourly"].message == "800 s in the last hour"
    assert by_id["ads/hourly"].severity is Severity.CRITICAL
    assert by_id["ads/too-long"].reference == "Test Art. 1"
    assert COMPILED.evaluations_for("ad.impression") == 3
    assert COMPILED.evaluate({"type": "grievance.filed"}) == []


def test_messages_never_quote_an_encrypted_field() -> None:
    """The event stores viewer.email encrypted: a message must not store it in the clear,
    whether it names the field, an object holding it, or a field beside it (allowed)."""
    spec = tenant(
        [],
        [
            rule("direct", "event.ad.targeted", message="sent to {{event.viewer.email}}"),
            rule("holder", "event.ad.targeted", message="viewer {{event.viewer}}"),
            rule("beside", "event.ad.targeted", message="kids: {{event.viewer.isKidsProfile}}"),
        ],
    )
    event = {**ad(targeted=True), "viewer": {"email": "kid@example.com", "isKidsProfile": True}}
    hits = compile_rules(resolve_rules(spec, {}), redact=["viewer.email"]).evaluate(event)
    messages = {h.rule_id: h.message for h in hits}
    assert messages == {
        "direct": "sent to [encrypted]",
        "holder": "viewer [encrypted]",
        "beside": "kids: true",
    }
    plain = compile_rules(resolve_rules(spec, {})).evaluate(event)  # nothing encrypted
    assert {h.rule_id: h.message for h in plain}["direct"] == "sent to kid@example.com"


def test_missing_field_means_rule_does_not_apply_and_is_counted() -> None:
    compiled = compile_rules(resolve_rules(tenant([{"name": "ads"}]), SETS))
    event = {"type": "ad.impression", "time": "2026-11-26T14:00:00Z", "ad": {"targeted": True}}
    hits = compiled.evaluate(event)  # no durationSeconds, no aggregates
    assert [h.rule_id for h in hits] == ["targeted"]
    assert compiled.stats.missing["ads/too-long"] == 1
    assert compiled.stats.missing["ads/hourly"] == 1
    assert compiled.stats.hits["ads/targeted"] == 1


def test_runtime_error_in_one_rule_does_not_stop_others() -> None:
    # a mismatch the text does not show (event.ad.id > 3 is refused when it compiles)
    spec = tenant(
        [], [rule("type-error", "size(event.ad.id) > '3'"), rule("ok", "event.ad.targeted")]
    )
    compiled = compile_rules(resolve_rules(spec, {}))
    hits = compiled.evaluate(ad(targeted=True))
    assert [h.rule_id for h in hits] == ["ok"]
    assert compiled.stats.errors["custom/type-error"] == 1
    assert "custom/type-error" in compiled.stats.last_error


def test_same_names_in_two_sets_read_their_own_params() -> None:
    other = regset("other", [rule("too-long", "event.ad.durationSeconds > params.maxSeconds")],
                   parameters={"maxSeconds": 10})  # fmt: skip
    spec = tenant([{"name": "ads"}, {"name": "other"}])
    compiled = compile_rules(resolve_rules(spec, {"ads": ADS, "other": other}))
    hits = {h.qualified_id for h in compiled.evaluate(ad(30))}
    assert hits == {"other/too-long"}


# --- properties ----------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
ad_sections = st.fixed_dictionaries(
    {},
    optional={"id": st.text(max_size=8), "durationSeconds": json_values, "targeted": json_values,
              "category": json_values},
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section=ad_sections, aggregates=st.dictionaries(st.just("secondsLastHour"), json_values))
def test_evaluation_never_raises(section: dict[str, Any], aggregates: dict[str, Any]) -> None:
    event = {"type": "ad.impression", "time": "2026-11-26T14:00:00Z", "ad": section}
    hits = COMPILED.evaluate(event, {"ads": aggregates})
    assert all(h.regulation == "ads" for h in hits)


RULE_IDS = [r.id for r in ADS.spec.rules]


@settings(max_examples=60, deadline=None)
@given(
    disabled=st.lists(st.sampled_from(RULE_IDS), unique=True),
    seconds=st.integers(0, 3600),
    targeted=st.booleans(),
    hourly=st.floats(0, 5000),
)
def test_disabled_rules_never_fire(
    disabled: list[str], seconds: int, targeted: bool, hourly: float
) -> None:
    compiled = compile_rules(
        resolve_rules(tenant([{"name": "ads", "disabledRules": disabled}]), SETS)
    )
    for event in (ad(seconds, targeted), {**ad(), "type": "playback.start",
                                          "viewer": {"isKidsProfile": True}}):  # fmt: skip
        fired = {h.rule_id for h in compiled.evaluate(event, {"ads": {"secondsLastHour": hourly}})}
        assert not fired & set(disabled)
        enabled = compile_rules(resolve_rules(tenant([{"name": "ads"}]), SETS))
        full = {h.rule_id for h in enabled.evaluate(event, {"ads": {"secondsLastHour": hourly}})}
        assert fired == full - set(disabled)


def test_inlined_parameters_keep_their_values() -> None:
    tricky = {"quote": 'say "hi"\\now', "uni": "ümlaut ✓", "ratio": 0.3, "big": 2**40,
              "flag": False, "nothing": None, "nested": {"U/A 13+": [13, 1.5e-3]}}  # fmt: skip
    conditions = [
        "event.ad.id == params.quote",
        "event.ad.category == params.uni",
        "params.ratio * 10.0 > 2.9",
        "params.big == 1099511627776",
        "!params.flag",
        "params.nothing == null",
        "params.nested['U/A 13+'][1] < 0.01",
        "size(params) == 7",
    ]
    regulation = regset(
        "t", [rule(f"r{i}", c) for i, c in enumerate(conditions)], parameters=tricky
    )
    compiled = compile_rules(resolve_rules(tenant([{"name": "t"}]), {"t": regulation}))
    event = ad(ad={"id": 'say "hi"\\now', "category": "ümlaut ✓"})
    hits = {h.rule_id for h in compiled.evaluate(event)}
    assert hits == {f"r{i}" for i in range(len(conditions))}, compiled.stats.last_error


def test_only_fields_rules_read_are_converted_unless_event_is_used_whole() -> None:
    assert COMPILED.event_fields("ad.impression") == frozenset({"ad"})
    whole = compile_rules(resolve_rules(tenant([], [rule("w", "size(event) > 3")]), {}))
    assert whole.event_fields("ad.impression") is None
    assert [h.rule_id for h in whole.evaluate(ad(viewer={"id": "v"}))] == ["w"]
    sections = compile_rules(resolve_rules(tenant([], [rule("s", "has(event.viewer)")]), {}))
    assert [h.rule_id for h in sections.evaluate(ad(viewer={"id": "v"}))] == ["s"]
    assert sections.evaluate(ad()) == []
