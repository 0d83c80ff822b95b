"""The API server's verdict on a CRD document, emulated without a cluster, and the corpus.

Defaults applied, the openAPIV3Schema checked with ``jsonschema`` (unknown fields refused,
as with kubectl's strict field validation), then every ``x-kubernetes-validations`` rule
evaluated with ``cel`` with ``self`` bound to its node. tests/e2e/test_crds.py has the real
API server judge the same corpus, so this emulation cannot drift unnoticed.
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
import yaml
from pydantic import BaseModel, ValidationError

from ott_runtime.domain import ComplianceTenant, RegulationSet
from ott_runtime.domain.regulation import RegulationSetStatus
from ott_runtime.domain.tenant import ComplianceTenantStatus

REPO = Path(__file__).resolve().parents[3]
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
