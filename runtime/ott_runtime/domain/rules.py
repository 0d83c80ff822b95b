"""Resolve a tenant's regulations into one rule list, compile it once, evaluate events.

``resolve_rules`` merges the referenced RegulationSets with the tenant's parameter
overrides, drops disabled rules and adds the custom rules (regulation ``custom``); the
result is what the operator writes into the tenant's ConfigMap (``to_config``) and what
the runtime reads back (``from_config``). ``compile_rules`` compiles every CEL condition
once and reports all errors at once; ``CompiledRules.evaluate`` scores one event.

Evaluation semantics: a rule whose condition reads a field the event does not carry
does not apply (no violation); it is counted in ``stats.missing`` so a rule that never
applies is visible. A rule that must treat absence as a violation says so with
``has()``. Any other runtime error (type mismatch, non-boolean result) is counted in
``stats.errors`` and also yields no violation: one broken rule never hides the others.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypedDict

import cel

from ott_runtime.domain.cel_expressions import (
    check_expression,
    compile_expression,
    position,
    render_template,
    rewrite_roots,
    template_paths,
)
from ott_runtime.domain.events import EVENT_TYPES
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
            "rules": [_rule_document(r) for r in self.rules],
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
        return {
            "apiVersion": CONFIG_API_VERSION,
            "kind": CONFIG_KIND,
            "regulations": [s.to_config() for s in self.sets],
        }

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> ResolvedRules:
        if data.get("kind") != CONFIG_KIND:
            raise ValueError(f"not a {CONFIG_KIND} config (kind={data.get('kind')!r})")
        return cls(tuple(ResolvedRegulation.from_config(r) for r in data["regulations"]))

    def digest(self) -> str:
        """sha256 of the canonical JSON config: equal rules, equal digest."""
        canonical = json.dumps(self.to_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _rule_document(rule: ResolvedRule) -> dict[str, Any]:
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
    return ResolvedRules(tuple(resolved))


# --- compiling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleError:
    """A compile error; ``line``/``column`` are 1-based within the ``field`` text."""

    regulation: str
    rule_id: str
    line: int
    column: int
    message: str
    field: str = "when"

    def __str__(self) -> str:
        return f"{self.regulation}/{self.rule_id}:{self.line}:{self.column}: {self.message}"


class RuleCompileError(ValueError):
    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        listed = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{len(errors)} rule error(s):\n{listed}")


@dataclass(frozen=True)
class RuleHit:
    qualified_id: str
    regulation: str
    rule_id: str
    severity: Severity
    message: str
    reference: str

    def to_dict(self) -> dict[str, str]:
        return {
            "rule": self.qualified_id,
            "regulation": self.regulation,
            "ruleId": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class _CompiledRule:
    rule: ResolvedRule
    program: cel.Program
    aggregates_alias: str
    qualified_id: str


@dataclass
class EvaluationStats:
    """Counters since compile: how often each rule ran, fired, lacked a field, failed."""

    evaluated: Counter[str] = field(default_factory=Counter)
    hits: Counter[str] = field(default_factory=Counter)
    missing: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    last_error: dict[str, str] = field(default_factory=dict)


def check_rule(
    regulation: str, rule: Rule | ResolvedRule, parameters: Mapping[str, Any], aggregates: set[str]
) -> tuple[cel.Program | None, list[RuleError]]:
    """Compile and statically check one rule; (program, []) when it is fine."""
    errors: list[RuleError] = []
    for event_type in rule.applies_to:
        if event_type not in EVENT_TYPES:
            errors.append(
                RuleError(regulation, rule.id, 1, 1,
                          f"appliesTo {event_type!r} is not an event type of specVersion 1 "
                          f"({', '.join(EVENT_TYPES)})", field="appliesTo")
            )  # fmt: skip
    program, problems = compile_expression(rule.when)
    if program is not None:
        problems = check_expression(
            rule.when, parameters=parameters, aggregates=aggregates, program=program
        )
    errors.extend(RuleError(regulation, rule.id, p.line, p.column, p.message) for p in problems)
    for offset, path in template_paths(rule.message):
        root, _, rest = path.partition(".")
        name = rest.split(".")[0]
        bad = (
            f"unknown root {root!r} (use event, params or aggregates)"
            if root not in ("event", "params", "aggregates")
            else f"unknown parameter {name!r}"
            if root == "params" and name not in parameters
            else f"unknown aggregate {name!r}"
            if root == "aggregates" and name not in aggregates
            else None
        )
        if bad:
            line, column = position(rule.message, offset)
            errors.append(
                RuleError(regulation, rule.id, line, column, f"message: {bad}", field="message")
            )
    return (program if not errors else None), errors


def check_aggregate(
    regulation: str, aggregate: Aggregate, parameters: Mapping[str, Any]
) -> list[RuleError]:
    """Errors in an aggregate's ``of`` and ``where`` (which may read event and params)."""
    errors: list[RuleError] = []
    if aggregate.of not in EVENT_TYPES:
        errors.append(
            RuleError(regulation, aggregate.name, 1, 1,
                      f"of {aggregate.of!r} is not an event type of specVersion 1", field="of")
        )  # fmt: skip
    if aggregate.where is not None:
        program, problems = compile_expression(aggregate.where)
        if program is not None:
            problems = check_expression(
                aggregate.where, parameters=parameters, aggregates=(), program=program
            )
        errors.extend(
            RuleError(regulation, aggregate.name, p.line, p.column, p.message, field="where")
            for p in problems
        )
    return errors


class CompiledRules:
    """Compiled once per tenant config; ``evaluate`` is safe to call from many threads."""

    def __init__(
        self,
        resolved: ResolvedRules,
        by_type: dict[str, tuple[_CompiledRule, ...]],
        aggregate_aliases: dict[str, str],
    ) -> None:
        self.resolved = resolved
        self.stats = EvaluationStats()
        self._by_type = by_type
        self._aggregate_aliases = aggregate_aliases  # regulation -> CEL variable

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def rules_for(self, event_type: str) -> tuple[ResolvedRule, ...]:
        return tuple(c.rule for c in self._by_type.get(event_type, ()))

    def evaluations_for(self, event_type: str) -> int:
        """How many rules an event of this type is evaluated against (for metering)."""
        return len(self._by_type.get(event_type, ()))

    def describe(self) -> list[dict[str, Any]]:
        """The resolved rules as documents with their qualified ids (for the API)."""
        return [
            {"rule": r.qualified_id, "regulation": r.regulation, **_rule_document(r)}
            for r in self.resolved.rules
        ]

    def evaluate(
        self,
        event: Mapping[str, Any],
        aggregates: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[RuleHit]:
        """Rules whose appliesTo matches ``event["type"]`` that hold for it."""
        compiled = self._by_type.get(str(event.get("type", "")))
        if not compiled:
            return []
        event_dict = event if isinstance(event, dict) else dict(event)
        aggregates = aggregates or {}
        variables: dict[str, Any] = {"event": event_dict}
        for regulation, alias in self._aggregate_aliases.items():
            variables[alias] = dict(aggregates.get(regulation, {}))
        # One context per event: the event is converted to CEL values once for all rules
        # (parameters are inlined in the programs, see rewrite_roots).
        context = cel.Context(variables=variables)
        stats = self.stats
        hits: list[RuleHit] = []
        for item in compiled:
            rule = item.rule
            qualified = item.qualified_id
            stats.evaluated[qualified] += 1
            try:
                result = item.program.execute(context)
            except KeyError:
                stats.missing[qualified] += 1
                continue
            except Exception as exc:  # one rule's failure must not stop the others
                stats.errors[qualified] += 1
                stats.last_error[qualified] = f"{type(exc).__name__}: {exc}"
                continue
            if result is True:
                stats.hits[qualified] += 1
                scopes = {
                    "event": event_dict,
                    "params": rule.params,
                    "aggregates": variables.get(item.aggregates_alias, {}),
                }
                hits.append(
                    RuleHit(
                        qualified_id=qualified,
                        regulation=rule.regulation,
                        rule_id=rule.id,
                        severity=rule.severity,
                        message=render_template(rule.message, scopes),
                        reference=rule.reference,
                    )
                )
            elif result is not False:
                stats.errors[qualified] += 1
                stats.last_error[qualified] = f"condition gave {type(result).__name__}, not bool"
        return hits


def compile_rules(resolved: ResolvedRules) -> CompiledRules:
    """Compile every rule; raise ``RuleCompileError`` listing the errors of ALL rules."""
    errors: list[RuleError] = []
    by_type: dict[str, list[_CompiledRule]] = {}
    aggregate_aliases: dict[str, str] = {}
    for index, regulation in enumerate(resolved.sets):
        aliases = {"aggregates": f"__a{index}"}
        constants = {"params": regulation.parameters}
        if regulation.aggregates:
            aggregate_aliases[regulation.name] = aliases["aggregates"]
        aggregate_names = {a.name for a in regulation.aggregates}
        for aggregate in regulation.aggregates:
            errors.extend(check_aggregate(regulation.name, aggregate, regulation.parameters))
        for rule in regulation.rules:
            program, rule_errors = check_rule(
                regulation.name, rule, regulation.parameters, aggregate_names
            )
            errors.extend(rule_errors)
            if program is None:
                continue
            try:
                rewritten = cel.compile(rewrite_roots(rule.when, aliases, constants))
            except ValueError as exc:  # a parameter with no CEL literal (NaN, a set, ...)
                errors.append(RuleError(regulation.name, rule.id, 1, 1, f"parameters: {exc}"))
                continue
            item = _CompiledRule(rule, rewritten, aliases["aggregates"], rule.qualified_id)
            for event_type in rule.applies_to:
                by_type.setdefault(event_type, []).append(item)
    if errors:
        raise RuleCompileError(errors)
    return CompiledRules(
        resolved,
        {t: tuple(items) for t, items in by_type.items()},
        aggregate_aliases,
    )
