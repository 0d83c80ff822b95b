"""Binds the domain rule engine and aggregate windows to a tenant runtime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ott_runtime.crypto import KeyStore
from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.rule_health import RuleHealth
from ott_runtime.domain.rules import CompiledRules, ResolvedRules, compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenant, ComplianceTenantSpec
from ott_runtime.ingest.schemas import event_validators
from ott_runtime.ingest.tenants import Hit, TenantRuntime


class CompiledRuleEvaluator:
    """The pipeline's RuleEvaluator over the domain's compiled CEL rules."""

    def __init__(self, compiled: CompiledRules) -> None:
        self.compiled = compiled

    def evaluate(self, event: Mapping[str, Any], aggregates: Mapping[str, Any]) -> list[Hit]:
        return [
            Hit(h.regulation, h.rule_id, h.severity.value, h.severity.rank, h.message, h.reference)
            for h in self.compiled.evaluate(event, aggregates)
        ]

    def evaluations_for(self, event_type: str) -> int:
        return self.compiled.evaluations_for(event_type)

    def health(self) -> list[RuleHealth]:
        return self.compiled.health()

    def describe(self) -> list[dict[str, Any]]:
        regulations: list[dict[str, Any]] = self.compiled.resolved.to_config()["regulations"]
        return regulations


def runtime_from_resolved(
    name: str, spec: ComplianceTenantSpec, resolved: ResolvedRules, keys: KeyStore
) -> TenantRuntime:
    """Compiles the rules (RuleCompileError lists every bad rule) and makes fresh windows."""
    windows = [
        parse_duration(aggregate.window)
        for aggregates in resolved.aggregates.values()
        for aggregate in aggregates
    ]
    return TenantRuntime(
        name=name,
        spec=spec,
        rules=CompiledRuleEvaluator(compile_rules(resolved, redact=spec.encryption.fields)),
        windows=WindowAggregator.for_rules(resolved),
        keys=keys,
        windows_factory=lambda: WindowAggregator.for_rules(resolved),
        longest_window=max(windows, default=None),
        validators=event_validators(resolved.extensions) if resolved.extensions else None,
        extensions=resolved.extensions,
    )


def runtime_for_tenant(
    tenant: ComplianceTenant, sets: Mapping[str, RegulationSet], keys: KeyStore
) -> TenantRuntime:
    """Standalone mode: resolve the tenant's regulations from documents read from files."""
    resolved = resolve_rules(tenant.spec, sets)
    return runtime_from_resolved(tenant.name, tenant.spec, resolved, keys)
