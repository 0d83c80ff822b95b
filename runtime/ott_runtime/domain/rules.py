"""The rule engine: compile a tenant's resolved rules once, evaluate events against them.

``resolve_rules`` (in ``resolution``, re-exported here) gives the tenant's rules;
``compile_rules`` compiles every CEL condition once and reports the errors of all rules
at once; ``CompiledRules.evaluate`` scores one event against the rules whose appliesTo
names its type.

Evaluation semantics: a rule whose condition reads a field the event does not carry
does not apply (no violation); it is counted in ``stats.missing`` so a rule that never
applies is visible. A rule that must treat absence as a violation says so with
``has()``. Any other runtime error (type mismatch, non-boolean result) is counted in
``stats.errors`` and also yields no violation: one broken rule never hides the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cel

from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.cel_expressions import (
    event_paths,
    event_sections,
    render_template,
    rewrite_roots,
    trim_event_paths,
)
from ott_runtime.domain.celnative import CelError, NativeProgram, NeedsLibrary, native_or_none
from ott_runtime.domain.regulation import Severity
from ott_runtime.domain.resolution import (
    CONFIG_API_VERSION,
    CONFIG_KIND,
    CUSTOM_REGULATION,
    MissingRegulationSets,
    RegulationSummary,
    ResolvedRegulation,
    ResolvedRule,
    ResolvedRules,
    RuleResolutionError,
    resolve_rules,
    rule_document,
)
from ott_runtime.domain.rule_checks import (
    RuleCompileError,
    RuleError,
    check_aggregate,
    check_extensions,
    check_rule,
)
from ott_runtime.domain.rule_health import EvaluationStats, RuleHealth, rule_health

__all__ = [
    "CONFIG_API_VERSION",
    "CONFIG_KIND",
    "CUSTOM_REGULATION",
    "CompiledRules",
    "EvaluationStats",
    "MissingRegulationSets",
    "RegulationSummary",
    "ResolvedRegulation",
    "ResolvedRule",
    "ResolvedRules",
    "RuleCompileError",
    "RuleError",
    "RuleHit",
    "RuleReplay",
    "RuleResolutionError",
    "check_aggregate",
    "check_extensions",
    "check_rule",
    "compile_rules",
    "resolve_rules",
]


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
    # The same condition evaluated natively on the plain event (None: the library only).
    native: NativeProgram | None = None


_NO_AGGREGATES: Mapping[str, Any] = {}


class CompiledRules:
    """Compiled once per tenant config. ``evaluate`` keeps its per-event state local, so it
    may run in several threads (the stats counters are then approximate).

    Conditions the native evaluator compiles (``celnative``: all of the catalog's) run on
    the plain event; the others, and an event whose data the native evaluator does not
    mirror, go through the ``cel`` library with a context built once per event, only when
    one of them needs it (converting the event to CEL values cost more than the rules)."""

    def __init__(
        self,
        resolved: ResolvedRules,
        by_type: dict[str, tuple[_CompiledRule, ...]],
        aggregate_aliases: dict[str, str],
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        self.resolved = resolved
        self._hidden = hidden
        self.stats = EvaluationStats()
        self._by_type = by_type
        # Per event type, the event fields its rules read: only those are converted.
        self._sections = {
            event_type: event_sections(item.rule.when for item in items)
            for event_type, items in by_type.items()
        }
        # Per event type, the (regulation, CEL variable) pairs of the aggregates its rules
        # may read: converting every regulation's aggregates for every event is the bulk
        # of the cost. A rule mentioning "aggregates" anywhere counts (a safe superset);
        # a hit's message reads its regulation's aggregates lazily (see evaluate).
        # ... and one level below them (event.viewer.age reads only viewer's age)
        self._paths = {
            event_type: event_paths(item.rule.when for item in items)
            for event_type, items in by_type.items()
        }
        self._aggregate_aliases = {
            event_type: tuple(
                (regulation, alias)
                for regulation, alias in aggregate_aliases.items()
                if any(
                    item.aggregates_alias == alias and "aggregates" in item.rule.when
                    for item in items
                )
            )
            for event_type, items in by_type.items()
        }
        self._alias_regulation = {alias: reg for reg, alias in aggregate_aliases.items()}

    @property
    def native_rules(self) -> frozenset[str]:
        """Qualified ids of the rules evaluated natively (the rest use the library)."""
        return frozenset(
            item.qualified_id
            for items in self._by_type.values()
            for item in items
            if item.native is not None
        )

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def rules_for(self, event_type: str) -> tuple[ResolvedRule, ...]:
        return tuple(c.rule for c in self._by_type.get(event_type, ()))

    def event_fields(self, event_type: str) -> frozenset[str] | None:
        """Top-level event fields the rules of this type read (None: the whole event)."""
        return self._sections.get(event_type, frozenset())

    def evaluations_for(self, event_type: str) -> int:
        """How many rules an event of this type is evaluated against (for metering)."""
        return len(self._by_type.get(event_type, ()))

    def health(self) -> list[RuleHealth]:
        """Each rule's counters since compile (see :mod:`.rule_health`)."""
        return rule_health(self.stats, {r.qualified_id: r.regulation for r in self.resolved.rules})

    def describe(self) -> list[dict[str, Any]]:
        """The resolved rules as documents with their qualified ids (for the API)."""
        return [
            {"rule": r.qualified_id, "regulation": r.regulation, **rule_document(r)}
            for r in self.resolved.rules
        ]

    def _message_aggregates(
        self,
        alias: str,
        variables: Mapping[str, Any],
        aggregates: Mapping[str, Mapping[str, Any]],
    ) -> Mapping[str, Any]:
        """The aggregates a hit's message may read (those of the rule's regulation)."""
        if alias in variables:
            converted: Mapping[str, Any] = variables[alias]
            return converted
        regulation = self._alias_regulation.get(alias)
        return {} if regulation is None else dict(aggregates.get(regulation, {}))

    def _library_context(
        self, event: dict[str, Any], event_type: str, variables: Mapping[str, Any]
    ) -> cel.Context:
        """One CEL context for the rules the library evaluates: the event cut to the
        fields the rules read (conversion costs per value), the aggregates copied.
        (Parameters are inlined in the programs, see rewrite_roots.)"""
        converted: dict[str, Any] = {"event": trim_event_paths(event, self._paths[event_type])}
        for _, alias in self._aggregate_aliases[event_type]:
            converted[alias] = dict(variables[alias])
        return cel.Context(variables=converted)

    def _count_error(self, qualified: str, kind: type[BaseException], message: str) -> None:
        """A missing field (KeyError, the library's and ours) is not an error of the rule."""
        if issubclass(kind, KeyError):
            self.stats.missing[qualified] += 1
            self.stats.last_missing[qualified] = message
        else:
            self.stats.errors[qualified] += 1
            self.stats.last_error[qualified] = f"{kind.__name__}: {message}"

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
        event_type = str(event.get("type", ""))
        # The native evaluator reads the event and the aggregates as they are.
        variables: dict[str, Any] = {"event": event_dict}
        for regulation, alias in self._aggregate_aliases[event_type]:
            variables[alias] = aggregates.get(regulation, _NO_AGGREGATES)
        library: list[cel.Context] = []  # built on the first rule that needs the library
        stats = self.stats
        hits: list[RuleHit] = []
        for item in compiled:
            rule = item.rule
            qualified = item.qualified_id
            stats.evaluated[qualified] += 1
            try:
                try:
                    if item.native is None:
                        raise NeedsLibrary
                    # the bare closure: its errors come as CelError, counted below as
                    # the library's exception of the same kind would be
                    result = item.native.run(variables)
                except NeedsLibrary:
                    if not library:
                        library.append(self._library_context(event_dict, event_type, variables))
                    result = item.program.execute(library[0])
            except CelError as error:
                self._count_error(qualified, error.kind, error.message)
                continue
            except Exception as exc:  # one rule's failure must not stop the others
                self._count_error(qualified, type(exc), str(exc))
                continue
            if result is True:
                stats.hits[qualified] += 1
                scopes = {
                    "event": event_dict,
                    "params": rule.params,
                    "aggregates": self._message_aggregates(
                        item.aggregates_alias, variables, aggregates
                    ),
                }
                hits.append(
                    RuleHit(
                        qualified_id=qualified,
                        regulation=rule.regulation,
                        rule_id=rule.id,
                        severity=rule.severity,
                        message=render_template(rule.message, scopes, self._hidden),
                        reference=rule.reference,
                    )
                )
            elif result is not False:
                stats.errors[qualified] += 1
                stats.last_error[qualified] = f"condition gave {type(result).__name__}, not bool"
        return hits


def compile_rules(resolved: ResolvedRules, redact: Iterable[str] = ()) -> CompiledRules:
    """Compile every rule; raise ``RuleCompileError`` listing the errors of ALL rules.

    ``redact`` names event field paths (the tenant's encrypted fields): a violation message
    that quotes one, or an object holding one, shows ``[encrypted]`` instead, so a rule's
    message template cannot store plaintext that the event itself stores encrypted."""
    extensions = resolved.extensions
    errors: list[RuleError] = check_extensions(extensions)
    by_type: dict[str, list[_CompiledRule]] = {}
    aggregate_aliases: dict[str, str] = {}
    for index, regulation in enumerate(resolved.sets):
        aliases = {"aggregates": f"__a{index}"}
        constants = {"params": regulation.parameters}
        if regulation.aggregates:
            aggregate_aliases[regulation.name] = aliases["aggregates"]
        aggregate_names = {a.name for a in regulation.aggregates}
        for aggregate in regulation.aggregates:
            errors.extend(
                check_aggregate(regulation.name, aggregate, regulation.parameters, extensions)
            )
        for rule in regulation.rules:
            program, rule_errors = check_rule(
                regulation.name, rule, regulation.parameters, aggregate_names, extensions
            )
            errors.extend(rule_errors)
            if program is None:
                continue
            try:
                rewritten = cel.compile(rewrite_roots(rule.when, aliases, constants))
            except ValueError as exc:  # a parameter with no CEL literal (NaN, a set, ...)
                errors.append(RuleError(regulation.name, rule.id, 1, 1, f"parameters: {exc}"))
                continue
            native = native_or_none(rewritten.source)
            item = _CompiledRule(rule, rewritten, aliases["aggregates"], rule.qualified_id, native)
            for event_type in rule.applies_to:
                by_type.setdefault(event_type, []).append(item)
    if errors:
        raise RuleCompileError(errors)
    return CompiledRules(
        resolved,
        {t: tuple(items) for t, items in by_type.items()},
        aggregate_aliases,
        hidden=frozenset(f"event.{path}" for path in redact),
    )


class RuleReplay:
    """Events in order through compiled rules and aggregate windows of their own, as the
    runtime evaluates them (rule tests and backtests replay with it)."""

    def __init__(self, compiled: CompiledRules) -> None:
        self.compiled = compiled
        self.windows = WindowAggregator.for_rules(compiled.resolved)

    def hits(self, event: dict[str, Any]) -> list[RuleHit]:
        return self.compiled.evaluate(event, self.windows.observe(event))
