"""The CRDs in crds/ and the models in ott_runtime.domain give the same verdict.

For every document in tests/corpus/{valid,invalid}/ the pydantic model and the CRD decide
alike; the CRD side is checked as the API server would: defaults applied, the
openAPIV3Schema checked with ``jsonschema`` (unknown fields refused, as with kubectl's strict
field validation), then every ``x-kubernetes-validations`` rule evaluated with ``cel`` with
``self`` bound to its node. An invalid document must name what its ``# expect:`` lines say
on both sides. Structural checks keep the two from drifting where the corpus does not look:
same properties, required fields, enums, patterns, bounds and defaults.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cel
import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from ott_runtime.domain import ComplianceTenant, RegulationSet
from ott_runtime.domain.durations import DURATION_PATTERN
from ott_runtime.domain.regulation import RegulationSetStatus
from ott_runtime.domain.tenant import CRON_PATTERN, ComplianceTenantStatus
from ott_runtime.usage.pricing import PriceList

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
CORPUS = REPO / "tests" / "corpus"
MODELS: dict[str, type[BaseModel]] = {
    "ComplianceTenant": ComplianceTenant,
    "RegulationSet": RegulationSet,
}
STATUS_MODELS: dict[str, type[BaseModel]] = {
    "ComplianceTenant": ComplianceTenantStatus,
    "RegulationSet": RegulationSetStatus,
}
Json = Any


@dataclass(frozen=True)
class CorpusDoc:
    path: Path
    document: dict[str, Json]
    expect: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return self.path.parent.name == "valid"


def load_corpus(kind: str) -> list[CorpusDoc]:
    docs = []
    for path in sorted((CORPUS / kind).glob("*.yaml")):
        text = path.read_text()
        expect = tuple(re.findall(r"^# expect: (.+)$", text, flags=re.MULTILINE))
        docs.append(CorpusDoc(path, yaml.safe_load(text), expect))
    return docs


VALID = load_corpus("valid")
INVALID = load_corpus("invalid")
EXAMPLES = [
    CorpusDoc(path, document, ())
    for folder in ("regulationsets", "tenants")
    for path in sorted((REPO / "examples" / folder).glob("*.yaml"))
    for document in yaml.safe_load_all(path.read_text())
    if document
]


def load_crd_schemas() -> dict[str, dict[str, Json]]:
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        (version,) = crd["spec"]["versions"]
        schemas[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return schemas


SCHEMAS = load_crd_schemas()


def k8s_path(parts: Sequence[str | int]) -> str:
    """('spec', 'rules', 1, 'id') -> 'spec.rules[1].id', the API server's spelling."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


# --- the API server's side --------------------------------------------------------------


def prune_nulls(value: Json, schema: dict[str, Json]) -> Json:
    """Null fields are dropped before defaulting (none of our schemas is nullable)."""
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: prune_nulls(v, props.get(k, {})) for k, v in value.items() if v is not None}
    if isinstance(value, list) and "items" in schema:
        return [prune_nulls(item, schema["items"]) for item in value]
    return value


def apply_defaults(value: Json, schema: dict[str, Json]) -> Json:
    """Structural defaulting: a missing property with a default gets it, then its insides."""
    if isinstance(value, dict) and "properties" in schema:
        for name, prop in schema["properties"].items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = apply_defaults(value[name], prop)
    elif isinstance(value, list) and "items" in schema:
        return [apply_defaults(item, schema["items"]) for item in value]
    return value


def strict_schema(schema: dict[str, Json], path: str = "") -> dict[str, Json]:
    """The schema with unknown fields refused, except where Kubernetes keeps or owns them."""
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {
            name: strict_schema(prop, f"{path}.{name}")
            for name, prop in schema["properties"].items()
        }
        if path != ".metadata" and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    if "items" in schema:
        schema["items"] = strict_schema(schema["items"], path + "[]")
    return schema


def schema_errors(document: Json, schema: dict[str, Json]) -> list[str]:
    errors = []
    for error in jsonschema.Draft7Validator(strict_schema(schema)).iter_errors(document):
        where = list(error.absolute_path)
        if error.validator == "additionalProperties":
            known = error.schema.get("properties", {})
            errors += [
                f"{k8s_path([*where, extra])}: unknown field"
                for extra in error.instance
                if extra not in known
            ]
        elif error.validator == "required":
            missing = re.match(r"'([^']+)'", error.message)
            errors.append(f"{k8s_path([*where, missing[1] if missing else '?'])}: Required value")
        else:
            errors.append(f"{k8s_path(where)}: {error.message}")
    return errors


def cel_errors(value: Json, schema: dict[str, Json], path: list[str | int]) -> Iterator[str]:
    for rule in schema.get("x-kubernetes-validations", []):
        if cel.evaluate(rule["rule"], {"self": value}) is not True:
            yield f"{k8s_path(path)}{rule.get('fieldPath', '')}: {rule['message']}"
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name in value:
                yield from cel_errors(value[name], prop, [*path, name])
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from cel_errors(item, schema["items"], [*path, index])


def crd_verdict(document: dict[str, Json]) -> list[str]:
    schema = SCHEMAS[document["kind"]]
    defaulted = apply_defaults(prune_nulls(copy.deepcopy(document), schema), schema)
    # CEL rules run on documents that passed the schema, as their types are then known.
    return schema_errors(defaulted, schema) or list(cel_errors(defaulted, schema, []))


def model_verdict(document: dict[str, Json]) -> list[str]:
    try:
        MODELS[document["kind"]].model_validate(document)
    except ValidationError as error:
        return [f"{k8s_path(e['loc'])}: {e['msg']}" for e in error.errors()]
    return []


# --- verdicts on the corpus ----------------------------------------------------------------


def test_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 15
    assert {d.document["kind"] for d in VALID} == set(MODELS)
    assert all(d.expect for d in INVALID), [d.path.name for d in INVALID if not d.expect]


@pytest.mark.parametrize("doc", VALID + EXAMPLES, ids=lambda d: d.path.stem)
def test_valid_document_accepted_by_both(doc: CorpusDoc) -> None:
    assert crd_verdict(doc.document) == []
    assert model_verdict(doc.document) == []


@pytest.mark.parametrize("doc", INVALID, ids=lambda d: d.path.stem)
def test_invalid_document_refused_by_both_naming_the_field(doc: CorpusDoc) -> None:
    crd_said, model_said = crd_verdict(doc.document), model_verdict(doc.document)
    assert crd_said, "the CRD schema accepted it"
    assert model_said, "the model accepted it"
    for expected in doc.expect:
        assert expected in "\n".join(crd_said), crd_said
        assert expected in "\n".join(model_said), model_said


def prune_empty(value: Json) -> Json:
    if isinstance(value, dict):
        kept = {k: prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [prune_empty(v) for v in value]
    return value


@pytest.mark.parametrize("doc", VALID + EXAMPLES, ids=lambda d: d.path.stem)
def test_model_defaults_equal_api_server_defaults(doc: CorpusDoc) -> None:
    """What the API server stores and what the model reads are the same tenant."""
    schema = SCHEMAS[doc.document["kind"]]
    stored = apply_defaults(prune_nulls(copy.deepcopy(doc.document), schema), schema)
    parsed = MODELS[doc.document["kind"]].model_validate(doc.document)
    as_read = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("metadata",):
        stored.pop(key), as_read.pop(key)
    assert prune_empty(as_read) == prune_empty(stored)


# --- the CRDs themselves -------------------------------------------------------------------


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
