"""The CRDs themselves and their mirror models: every field described and bounded, every
CEL rule compiled with a message, and the pydantic models' structure, constraints and status
shape equal to the CRDs' (where the corpus in test_crd_schema_agreement.py does not look)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cel
import pytest
import yaml
from pydantic import ValidationError

from ott_runtime.domain.durations import DURATION_PATTERN
from ott_runtime.domain.tenant import CRON_PATTERN
from ott_runtime.usage.pricing import PriceList

from .crd_emulation import (
    CORPUS,
    CRD_DIR,
    MODELS,
    REPO,
    SCHEMAS,
    STATUS_MODELS,
    Json,
    k8s_path,
    schema_errors,
)


def walk(schema: dict[str, Json], path: str = "") -> Iterator[tuple[str, dict[str, Json]]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from walk(prop, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_field_is_described(kind: str) -> None:
    # metadata is Kubernetes' ObjectMeta: the API server documents it and forbids a description.
    undescribed = [
        path
        for path, node in walk(SCHEMAS[kind])
        if not node.get("description") and path != ".metadata"
    ]
    assert undescribed == []


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_cel_rule_compiles_and_has_a_message(kind: str) -> None:
    rules = [
        (path, rule)
        for path, node in walk(SCHEMAS[kind])
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 3
    for path, rule in rules:
        cel.compile(rule["rule"])  # raises ValueError with the position when it does not parse
        assert rule.get("message"), f"{path}: rule without message"
        # The API server prints FieldValueDuplicate as 'Duplicate value: "array"', dropping
        # the message; the other reasons keep it.
        assert rule.get("reason", "FieldValueInvalid") in {
            "FieldValueInvalid",
            "FieldValueForbidden",
            "FieldValueRequired",
        }, f"{path}: {rule.get('reason')}"


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_strings_and_lists_are_bounded_for_cel_cost(kind: str) -> None:
    unbounded = [
        path
        for path, node in walk(SCHEMAS[kind])
        if (
            node.get("type") == "string"
            and "maxLength" not in node
            and "enum" not in node
            and node.get("format") != "date-time"
            and path not in (".apiVersion", ".kind")
        )
        or (node.get("type") == "array" and "maxItems" not in node)
    ]
    assert unbounded == []


def test_duration_and_cron_patterns_are_the_crds() -> None:
    durations = [
        path
        for schema in SCHEMAS.values()
        for path, node in walk(schema)
        if node.get("pattern") == DURATION_PATTERN
    ]
    assert sorted(durations) == [
        ".spec.aggregates[].window",
        ".spec.encryption.rotationInterval",
        ".spec.retention.events",
        ".spec.retention.violations",
    ]
    # No duration field spells the pattern differently.
    patterns = {
        n["pattern"]
        for s in SCHEMAS.values()
        for _, n in walk(s)
        if "(ms|s|m|h|d|w)" in n.get("pattern", "")
    }
    assert patterns == {DURATION_PATTERN}
    tenant = SCHEMAS["ComplianceTenant"]["properties"]["spec"]["properties"]
    assert tenant["scoring"]["properties"]["retrainSchedule"]["pattern"] == CRON_PATTERN


# --- structure: model JSON schema against CRD schema ------------------------------------


CONSTRAINTS = (
    "pattern",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "maxItems",
    "minItems",
    "maxProperties",
)


def resolve(node: dict[str, Json], defs: dict[str, Json]) -> dict[str, Json]:
    """Follow $ref and drop the 'or null' pydantic writes for optional fields."""
    if "anyOf" in node:
        (node_without_null,) = [n for n in node["anyOf"] if n.get("type") != "null"]
        node = {**{k: v for k, v in node.items() if k != "anyOf"}, **node_without_null}
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def structural_differences(
    model: dict[str, Json], crd: dict[str, Json], defs: dict[str, Json], path: str
) -> Iterator[str]:
    model = resolve(model, defs)
    if crd.get("x-kubernetes-preserve-unknown-fields"):
        return
    for key in ("enum", *CONSTRAINTS):
        if model.get(key) != crd.get(key):
            yield f"{path}: {key} model={model.get(key)!r} crd={crd.get(key)!r}"
    # Object defaults ({} in the CRD, default_factory in the model) show in their insides.
    defaults = (crd.get("default", {}), model.get("default", []))
    if defaults not in (({}, []),) and model.get("default") != crd.get("default"):
        yield f"{path}: default model={model.get('default')!r} crd={crd.get('default')!r}"
    if "properties" in crd:
        model_props, crd_props = model.get("properties", {}), crd["properties"]
        if set(model_props) != set(crd_props):
            only_model, only_crd = (
                set(model_props) - set(crd_props),
                set(crd_props) - set(model_props),
            )
            yield f"{path}: properties only in the model {only_model}, only in the CRD {only_crd}"
        if set(model.get("required", [])) != set(crd.get("required", [])):
            yield f"{path}: required model={model.get('required')} crd={crd.get('required')}"
        for name in set(model_props) & set(crd_props):
            yield from structural_differences(
                model_props[name], crd_props[name], defs, f"{path}.{name}"
            )
    if "items" in crd:
        yield from structural_differences(model["items"], crd["items"], defs, f"{path}[]")
    if isinstance(crd.get("additionalProperties"), dict):
        yield from structural_differences(
            model["additionalProperties"], crd["additionalProperties"], defs, f"{path}{{}}"
        )


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_model_and_crd_have_the_same_spec_structure(kind: str) -> None:
    model_schema = MODELS[kind].model_json_schema(by_alias=True, mode="validation")
    defs = model_schema.get("$defs", {})
    model_spec = model_schema["properties"]["spec"]
    crd_spec = SCHEMAS[kind]["properties"]["spec"]
    assert list(structural_differences(model_spec, crd_spec, defs, ".spec")) == []
    name = resolve(model_schema["properties"]["metadata"], defs)["properties"]["name"]
    crd_name = SCHEMAS[kind]["properties"]["metadata"]["properties"]["name"]
    assert (name["pattern"], name["maxLength"]) == (crd_name["pattern"], crd_name["maxLength"])


@pytest.mark.parametrize("kind", sorted(STATUS_MODELS))
def test_status_models_have_the_crds_status_structure(kind: str) -> None:
    model_schema = STATUS_MODELS[kind].model_json_schema(by_alias=True, mode="validation")
    crd_status = SCHEMAS[kind]["properties"]["status"]
    differences = structural_differences(model_schema, crd_status, model_schema["$defs"], ".status")
    assert list(differences) == []


# --- status as the operator writes it ---------------------------------------------------


def tenant_status() -> dict[str, Json]:
    charge = PriceList.load().estimate("standard", events=3_000_000, api_calls=1234, bytes_in=10**9)
    return {
        "phase": "Ready",
        "observedGeneration": 4,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Provisioned", "message": "ok"},
            {
                "type": "KeysReady",
                "status": "Unknown",
                "lastTransitionTime": "2026-11-26T10:00:00Z",
            },
        ],
        "namespace": "ottc-acme",
        "endpoint": "https://api.example.com/tenants/acme",
        "apiKeySecret": "acme-api-key",
        "keys": {
            "activeVersion": 2,
            "lastRotation": "2026-11-01T00:00:00Z",
            "nextRotation": "2026-12-01T00:00:00Z",
            "versions": [
                {"version": 1, "state": "decrypt-only", "created": "2026-10-01T00:00:00Z"},
                {"version": 2, "state": "primary", "created": "2026-11-01T00:00:00Z"},
            ],
        },
        "regulations": [{"name": "gdpr", "version": "2016/679", "rules": 9}],
        "usage": {
            "period": "2026-11",
            "events": 3_000_000,
            "apiCalls": 1234,
            "estimatedCharge": charge,
        },
    }


def status_verdicts(kind: str, status: dict[str, Json]) -> tuple[list[str], list[str]]:
    schema = {"type": "object", "properties": {"status": SCHEMAS[kind]["properties"]["status"]}}
    crd_said = schema_errors({"status": status}, schema)
    try:
        STATUS_MODELS[kind].model_validate(status)
        model_said = []
    except ValidationError as error:
        model_said = [f"{k8s_path(['status', *e['loc']])}: {e['msg']}" for e in error.errors()]
    return crd_said, model_said


def test_full_status_with_a_real_price_estimate_is_valid_on_both_sides() -> None:
    assert status_verdicts("ComplianceTenant", tenant_status()) == ([], [])
    regset = {"observedGeneration": 1, "ruleCount": 3, "usedBy": ["acme", "tiny-tube"]}
    regset["conditions"] = [{"type": "Compiled", "status": "True", "reason": "AllRulesCompiled"}]
    assert status_verdicts("RegulationSet", regset) == ([], [])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"phase": "Sleeping"}, "status.phase"),
        ({"keys": {"activeVersion": 0}}, "status.keys.activeVersion"),
        (
            {"keys": {"versions": [{"version": 1, "state": "retired"}]}},
            "status.keys.versions[0].state",
        ),
        ({"usage": {"events": -1}}, "status.usage.events"),
        (
            {"usage": {"estimatedCharge": {"total": "12.5 EUR"}}},
            "status.usage.estimatedCharge.total",
        ),
        ({"conditions": [{"type": "Ready", "status": "Yes"}]}, "status.conditions[0].status"),
        ({"regulations": [{"name": "GDPR"}]}, "status.regulations[0].name"),
        ({"kopf": {"progress": {}}}, "status.kopf"),
    ],
)
def test_bad_status_is_refused_by_both(change: dict[str, Json], expected: str) -> None:
    crd_said, model_said = status_verdicts("ComplianceTenant", {**tenant_status(), **change})
    assert expected in "\n".join(crd_said), crd_said
    assert expected in "\n".join(model_said), model_said


# --- YAML 1.1 traps: kubectl's YAML reads y/n/yes/no/on/off as booleans -----------------

GO_YAML_BOOLEANS = {"y", "n", "yes", "no", "on", "off"}


def plain_boolean_lookalikes(node: yaml.Node, path: str = "") -> Iterator[str]:
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.value.lower() in GO_YAML_BOOLEANS:
            yield f"{path or '<root>'}: {node.value!r} (line {node.start_mark.line + 1})"
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from plain_boolean_lookalikes(key, f"{path}.<key>")
            yield from plain_boolean_lookalikes(value, f"{path}.{key.value}")
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from plain_boolean_lookalikes(item, f"{path}[{index}]")


YAML_FILES = sorted(
    [*CRD_DIR.glob("*.yaml"), *CORPUS.glob("*/*.yaml")]
    + [
        p
        for folder in ("regulationsets", "tenants")
        for p in (REPO / "examples" / folder).glob("*.yaml")
    ]
)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_unquoted_yaml_booleans(path: Path) -> None:
    """`NO: 13` (Norway) or `name: n` become false for kubectl; quote such words."""
    traps = [
        t for node in yaml.compose_all(path.read_text()) for t in plain_boolean_lookalikes(node)
    ]
    assert traps == []
