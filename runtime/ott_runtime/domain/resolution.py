"""Resolve a tenant's regulations into the rules that apply to it.

``resolve_rules`` merges the referenced RegulationSets with the tenant's parameter
overrides, drops disabled rules and adds the custom rules (regulation ``custom``). The
result is what the operator writes into the tenant's ConfigMap (``to_config``) and what
the runtime reads back (``from_config``); ``digest`` tells when it changed. Import these
names from ``ott_runtime.domain.rules``, the engine's public surface.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypedDict

from ott_runtime.domain.event_schema import EventExtension, ExtensionConflict, merge_extensions
from ott_runtime.domain.regulation import Aggregate, RegulationSet, Rule, Severity
from ott_runtime.domain.tenant import ComplianceTenantSpec

CUSTOM_REGULATION = "custom"
CONFIG_KIND = "ResolvedRules"
CONFIG_API_VERSION = "compliance.ott.dev/v1alpha1"


class MissingRegulationSets(LookupError):
    """The tenant references RegulationSets that do not exist (yet)."""

    def __init__(self, names: list[str]) -> None:
        self.names = sorted(names)
        super().__init__(f"RegulationSet not found: {', '.join(self.names)}")


class RuleResolutionError(ValueError):
    """The tenant's references do not fit the sets (unknown disabled rule or parameter)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class ResolvedRule:
    regulation: str
    id: str
    severity: Severity
    applies_to: tuple[str, ...]
    when: str
    message: str
    reference: str
    params: Mapping[str, Any]
    description: str | None = None

    @property
    def qualified_id(self) -> str:
        return f"{self.regulation}/{self.id}"


class RegulationSummary(TypedDict):
    name: str
    version: str
    rules: int


@dataclass(frozen=True)
class ResolvedRegulation:
    """One set as applied to one tenant: merged parameters, enabled rules."""

    name: str
    version: str
    jurisdiction: str
    parameters: Mapping[str, Any]
    aggregates: tuple[Aggregate, ...]
    rules: tuple[ResolvedRule, ...]
    disabled_rules: tuple[str, ...] = ()

    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "jurisdiction": self.jurisdiction,
            "parameters": dict(self.parameters),
            "aggregates": [a.to_document() for a in self.aggregates],
            "rules": [rule_document(r) for r in self.rules],
            "disabledRules": list(self.disabled_rules),
        }

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> ResolvedRegulation:
        name = str(data["name"])
        parameters = MappingProxyType(dict(data.get("parameters", {})))
        rules = tuple(
            _resolved(name, Rule.model_validate(doc), parameters) for doc in data.get("rules", [])
        )
        return cls(
            name=name,
            version=str(data["version"]),
            jurisdiction=str(data.get("jurisdiction", "")),
            parameters=parameters,
            aggregates=tuple(Aggregate.model_validate(a) for a in data.get("aggregates", [])),
            rules=rules,
            disabled_rules=tuple(data.get("disabledRules", [])),
        )


@dataclass(frozen=True)
class ResolvedRules:
    """A tenant's effective rules, per regulation, in the order the tenant lists them."""

    sets: tuple[ResolvedRegulation, ...]
    # the platform's own event fields, declared by the tenant and its sets (by path)
    extensions: Mapping[str, EventExtension] = field(default_factory=dict)

    @property
    def rules(self) -> tuple[ResolvedRule, ...]:
        return tuple(rule for s in self.sets for rule in s.rules)

    @property
    def aggregates(self) -> dict[str, tuple[Aggregate, ...]]:
        return {s.name: s.aggregates for s in self.sets}

    @property
    def parameters(self) -> dict[str, Mapping[str, Any]]:
        return {s.name: s.parameters for s in self.sets}

    @property
    def regulations(self) -> list[RegulationSummary]:
        return [
            RegulationSummary(name=s.name, version=s.version, rules=len(s.rules)) for s in self.sets
        ]

    def to_config(self) -> dict[str, Any]:
        """JSON-serialisable form for the tenant's ConfigMap ``tenant-config``."""
        config: dict[str, Any] = {
            "apiVersion": CONFIG_API_VERSION,
            "kind": CONFIG_KIND,
            "regulations": [s.to_config() for s in self.sets],
        }
        if self.extensions:  # absent otherwise: the digest of a tenant without any is kept
            config["eventExtensions"] = [
                e.model_dump(mode="json", by_alias=True, exclude_none=True)
                for e in self.extensions.values()
            ]
        return config

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> ResolvedRules:
        if data.get("kind") != CONFIG_KIND:
            raise ValueError(f"not a {CONFIG_KIND} config (kind={data.get('kind')!r})")
        extensions = [EventExtension.model_validate(e) for e in data.get("eventExtensions", [])]
        return cls(
            tuple(ResolvedRegulation.from_config(r) for r in data["regulations"]),
            {e.path: e for e in extensions},
        )

    def digest(self) -> str:
        """sha256 of the canonical JSON config: equal rules, equal digest."""
        canonical = json.dumps(self.to_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def rule_document(rule: ResolvedRule) -> dict[str, Any]:
    """The rule in RegulationSet wire form (camelCase, as in the set's YAML)."""
    document: dict[str, Any] = {
        "id": rule.id,
        "severity": rule.severity.value,
        "appliesTo": list(rule.applies_to),
        "when": rule.when,
        "message": rule.message,
        "reference": rule.reference,
    }
    if rule.description is not None:
        document["description"] = rule.description
    return document


def _resolved(regulation: str, rule: Rule, params: Mapping[str, Any]) -> ResolvedRule:
    return ResolvedRule(
        regulation=regulation,
        id=rule.id,
        severity=rule.severity,
        applies_to=tuple(rule.applies_to),
        when=rule.when,
        message=rule.message,
        reference=rule.reference,
        params=params,
        description=rule.description,
    )


def resolve_rules(spec: ComplianceTenantSpec, sets: Mapping[str, RegulationSet]) -> ResolvedRules:
    """Merge the tenant's referenced sets, overrides, disabled rules and custom rules."""
    missing = [ref.name for ref in spec.regulations if ref.name not in sets]
    if missing:
        raise MissingRegulationSets(missing)
    problems: list[str] = []
    resolved: list[ResolvedRegulation] = []
    for ref in spec.regulations:
        regulation = sets[ref.name]
        set_spec = regulation.spec
        ids = {rule.id for rule in set_spec.rules}
        for rule_id in ref.disabled_rules:
            if rule_id not in ids:
                problems.append(
                    f"regulation {ref.name!r}: disabledRules names {rule_id!r}, which is not a "
                    f"rule of this set (rules: {', '.join(sorted(ids))})"
                )
        for param in ref.parameters:
            if param not in set_spec.parameters:
                problems.append(
                    f"regulation {ref.name!r}: parameter override {param!r} is not a parameter "
                    f"of this set (parameters: {', '.join(sorted(set_spec.parameters)) or 'none'})"
                )
        params = MappingProxyType({**set_spec.parameters, **ref.parameters})
        disabled = set(ref.disabled_rules)
        resolved.append(
            ResolvedRegulation(
                name=ref.name,
                version=set_spec.version,
                jurisdiction=set_spec.jurisdiction,
                parameters=params,
                aggregates=tuple(set_spec.aggregates),
                rules=tuple(
                    _resolved(ref.name, rule, params)
                    for rule in set_spec.rules
                    if rule.id not in disabled
                ),
                disabled_rules=tuple(ref.disabled_rules),
            )
        )
    if problems:
        raise RuleResolutionError(problems)
    if spec.custom_rules:
        empty: Mapping[str, Any] = MappingProxyType({})
        resolved.append(
            ResolvedRegulation(
                name=CUSTOM_REGULATION,
                version="tenant",
                jurisdiction="tenant",
                parameters=empty,
                aggregates=(),
                rules=tuple(_resolved(CUSTOM_REGULATION, r, empty) for r in spec.custom_rules),
            )
        )
    declared = [("the tenant", spec.event_schema.extensions if spec.event_schema else [])]
    for ref in spec.regulations:
        schema = sets[ref.name].spec.event_schema
        if schema is not None:
            declared.append((f"RegulationSet {ref.name}", schema.extensions))
    try:
        extensions = merge_extensions(declared)
    except ExtensionConflict as error:
        raise RuleResolutionError([str(error)]) from None
    return ResolvedRules(tuple(resolved), extensions)
