"""`ottc validate FILE...`: schema and CEL checks of RegulationSet / ComplianceTenant YAML."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import jsonschema
import yaml
from pydantic import ValidationError

from ott_runtime.domain.documents import (
    DOCUMENT_KINDS,
    DocumentError,
    DocumentErrors,
    Loc,
    SourceDocument,
    iter_yaml_files,
    load_documents,
    parse_document,
)
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.rule_tests import RULE_TEST_KIND, RuleTest
from ott_runtime.domain.rules import (
    MissingRegulationSets,
    RuleError,
    RuleResolutionError,
    check_aggregate,
    check_extensions,
    check_rule,
    resolve_rules,
)
from ott_runtime.domain.tenant import ComplianceTenant

DEFAULT_CRD_DIR = Path(__file__).resolve().parents[3] / "crds"


def load_crd_schemas(crd_dir: Path) -> dict[str, dict[str, Any]]:
    """openAPIV3Schema per kind, made strict (unknown fields refused, as kubectl does)."""
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")) if crd_dir.is_dir() else []:
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        for version in crd["spec"]["versions"]:
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            _forbid_unknown(schema)
            schemas[crd["spec"]["names"]["kind"]] = schema
    return schemas


def _forbid_unknown(schema: dict[str, Any]) -> None:
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema.setdefault("additionalProperties", False)
    for child in schema.get("properties", {}).values():
        _forbid_unknown(child)
    if isinstance(schema.get("items"), dict):
        _forbid_unknown(schema["items"])


@dataclass
class FileReport:
    file: str
    errors: list[DocumentError] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)


def _rule_errors(
    document: SourceDocument, base: Loc, errors: list[RuleError]
) -> Iterator[DocumentError]:
    for error in errors:
        loc = (*base, error.field)
        if error.field in ("when", "where", "message"):
            line, column = document.expression_position(loc, error.line, error.column)
        else:
            line, column = document.position(loc)
        yield DocumentError(document.file, line, column, error.message, rule_id=error.rule_id)


def check_resource(
    document: SourceDocument, resource: RegulationSet | ComplianceTenant
) -> Iterator[DocumentError]:
    """Compile every CEL expression of a parsed resource, positioned in its file."""
    schema = resource.spec.event_schema
    declared = list(schema.extensions) if schema else []
    extensions = {e.path: e for e in declared}
    for i, extension in enumerate(declared):
        for error in check_extensions({extension.path: extension}):
            line, column = document.position(("spec", "eventSchema", "extensions", i, "path"))
            yield DocumentError(document.file, line, column, error.message, rule_id=error.rule_id)
    if isinstance(resource, RegulationSet):
        spec = resource.spec
        names = {a.name for a in spec.aggregates}
        for i, aggregate in enumerate(spec.aggregates):
            errors = check_aggregate(resource.name, aggregate, spec.parameters, extensions)
            yield from _rule_errors(document, ("spec", "aggregates", i), errors)
        for i, rule in enumerate(spec.rules):
            _, errors = check_rule(resource.name, rule, spec.parameters, names, extensions)
            yield from _rule_errors(document, ("spec", "rules", i), errors)
    else:
        for i, rule in enumerate(resource.spec.custom_rules):
            _, errors = check_rule("custom", rule, {}, set(), extensions)
            yield from _rule_errors(document, ("spec", "customRules", i), errors)


def _schema_errors(
    document: SourceDocument, schemas: dict[str, dict[str, Any]]
) -> list[DocumentError]:
    schema = schemas.get(str(document.kind))
    if schema is None:
        return []
    validator = jsonschema.Draft7Validator(schema)
    errors = []
    for error in validator.iter_errors(document.data):
        line, column = document.position(tuple(error.absolute_path))
        where = ".".join(str(p) for p in error.absolute_path) or "(document)"
        errors.append(
            DocumentError(document.file, line, column, f"CRD schema: {where}: {error.message}")
        )
    return errors


def _rule_test_errors(document: SourceDocument) -> list[DocumentError]:
    try:
        RuleTest.model_validate(document.data)
    except ValidationError as error:
        return [
            DocumentError(document.file, *document.position(item["loc"]), item["msg"])
            for item in error.errors()
        ]
    return []


def _summary(resource: RegulationSet | ComplianceTenant) -> str:
    if isinstance(resource, RegulationSet):
        spec_ = resource.spec
        return f"RegulationSet {resource.name} {spec_.version}: {len(spec_.rules)} rules OK"
    spec = resource.spec
    return (
        f"ComplianceTenant {resource.name} ({spec.plan.value}, {spec.isolation.value}): "
        f"{len(spec.regulations)} regulations, {len(spec.custom_rules)} custom rules OK"
    )


def validate_files(paths: list[str], crd_dir: Path) -> list[FileReport]:
    schemas = load_crd_schemas(crd_dir)
    reports: list[FileReport] = []
    sets: dict[str, RegulationSet] = {}
    tenants: list[tuple[FileReport, SourceDocument, ComplianceTenant]] = []
    for file in iter_yaml_files(paths):
        report = FileReport(str(file))
        reports.append(report)
        try:
            documents = load_documents(file)
        except (DocumentErrors, OSError) as exc:
            report.errors.extend(
                exc.errors
                if isinstance(exc, DocumentErrors)
                else [DocumentError(str(file), 1, 1, str(exc))]
            )
            continue
        if not documents:
            report.errors.append(DocumentError(str(file), 1, 1, "no YAML documents"))
        for document in documents:
            errors_before = len(report.errors)
            report.errors.extend(document.boolean_lookalikes())
            if document.kind == RULE_TEST_KIND:  # the tests beside the sets: `ottc test`
                report.errors.extend(_rule_test_errors(document))
                if len(report.errors) == errors_before:
                    cases = len(document.data["spec"]["cases"])
                    name = document.data["metadata"]["name"]
                    report.summaries.append(f"RuleTest {name}: {cases} cases OK (run: ottc test)")
                continue
            try:
                resource = parse_document(document)
            except DocumentErrors as exc:
                report.errors.extend(exc.errors)
                seen = {(e.line, e.column) for e in exc.errors}
                if document.kind in DOCUMENT_KINDS:
                    extra = _schema_errors(document, schemas)
                    report.errors.extend(e for e in extra if (e.line, e.column) not in seen)
                continue
            report.errors.extend(_schema_errors(document, schemas))
            report.errors.extend(check_resource(document, resource))
            if isinstance(resource, RegulationSet):
                sets[resource.name] = resource
            else:
                tenants.append((report, document, resource))
            if len(report.errors) == errors_before:
                report.summaries.append(_summary(resource))
    # A tenant whose sets were all given too is resolved against them (overrides, disabledRules).
    for report, document, tenant in tenants:
        try:
            resolve_rules(tenant.spec, sets)
        except MissingRegulationSets:
            continue
        except RuleResolutionError as exc:
            line, column = document.position(("spec", "regulations"))
            report.errors.extend(DocumentError(report.file, line, column, p) for p in exc.problems)
    return reports


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--crds",
    "crd_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CRD_DIR,
    show_default=True,
    help="Directory of CRD YAMLs whose openAPIV3Schema is checked too (skipped if absent).",
)
def validate(files: tuple[str, ...], crd_dir: Path) -> None:
    """Check RegulationSet and ComplianceTenant YAML files (or directories of them).

    Each document is checked against the schema (the domain models and the CRDs'
    openAPIV3Schema) and every CEL expression is compiled: rule conditions, aggregate
    filters and message placeholders of sets, custom rules of tenants. A tenant whose
    RegulationSets are given too is resolved against them (overrides, disabledRules).

    Errors are printed as FILE:RULE-ID:LINE:COL: MESSAGE (RULE-ID is - for schema
    errors); the exit status is 1 when there is any error.

    \b
    Examples:
      ottc validate examples/regulationsets/gdpr.yaml
      ottc validate examples/regulationsets/ examples/tenants/
      ottc validate --crds crds/ my-tenant.yaml
    """
    reports = validate_files(list(files), crd_dir)
    failed = False
    for report in reports:
        if report.errors:
            failed = True
            for error in sorted(report.errors, key=lambda e: (e.line, e.column)):
                click.echo(str(error))
        else:
            click.echo(f"{report.file}: {'; '.join(report.summaries)}")
    if failed:
        total = sum(len(r.errors) for r in reports)
        click.echo(f"{total} error(s) in {sum(1 for r in reports if r.errors)} file(s)", err=True)
        raise SystemExit(1)
