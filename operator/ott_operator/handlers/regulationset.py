"""RegulationSet handlers: compile, report, and re-resolve every tenant that uses the set.

They write a set's conditions, ruleCount and observedGeneration; ``status.usedBy`` is
``handlers.used_by``'s alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from ott_operator.conditions import Condition, ConditionType, merge_conditions, transitions
from ott_operator.handlers.context import (
    SET_RESOURCE,
    OperatorState,
    RegulationSetIndex,
    TenantsByRegulation,
    set_documents,
    state,
    tenants_using,
)
from ott_operator.kube import REGULATION_SETS, KubeAPI
from ott_operator.status_patch import patch_status
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.rules import (
    RuleCompileError,
    RuleResolutionError,
    compile_rules,
    resolve_rules,
)
from ott_runtime.domain.tenant import ComplianceTenantSpec

log = logging.getLogger(__name__)


def compile_set(body: Mapping[str, Any]) -> tuple[Condition, int]:
    """The Compiled condition of one set on its own, and its rule count."""
    kind = ConditionType.COMPILED
    wire = {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")}
    wire["metadata"] = {"name": body["metadata"]["name"]}
    try:
        regulation = RegulationSet.model_validate(wire)
    except ValidationError as exc:
        return Condition(kind, False, "InvalidSpec", str(exc)), 0
    name = regulation.name
    probe = ComplianceTenantSpec.model_validate(
        {"displayName": name, "regulations": [{"name": name}]}
    )
    count = len(regulation.spec.rules)
    try:
        compile_rules(resolve_rules(probe, {name: regulation}))
    except RuleCompileError as exc:
        listed = "; ".join(
            f"rule {e.rule_id} at line {e.line}, column {e.column}: {e.message}" for e in exc.errors
        )
        return Condition(kind, False, "RuleCompileError", listed), count
    except RuleResolutionError as exc:
        return Condition(kind, False, "InvalidSpec", str(exc)), count
    return Condition(kind, True, "Compiled", f"{count} rules compiled"), count


def write_set_status(kube: KubeAPI, body: Mapping[str, Any]) -> None:
    """The set's compiled condition and rule count, with an Event for each transition."""
    condition, count = compile_set(body)
    generation = body["metadata"].get("generation")
    changed: list[Condition] = []

    def transaction(current: Mapping[str, Any]) -> Mapping[str, Any]:
        existing = (current.get("status") or {}).get("conditions") or []
        changed[:] = transitions(existing, [condition])  # relative to what is stored
        return {
            "observedGeneration": generation,
            "ruleCount": count,
            "conditions": merge_conditions(existing, [condition], generation=generation),
        }

    patch_status(kube, REGULATION_SETS, body["metadata"]["name"], transaction, read=body)
    for transition in changed:
        kube.post_event(
            body,
            warning=transition.status is not True,
            reason=transition.reason,
            message=transition.message,
        )


def _propagate(
    operator: OperatorState,
    set_name: str,
    sets: RegulationSetIndex,
    tenants: TenantsByRegulation,
) -> None:
    reconciler = operator.connect()
    for tenant in tenants_using(tenants, set_name):
        log.info("RegulationSet %s changed: re-resolving tenant %s", set_name, tenant)
        reconciler.reconcile(tenant, set_documents(sets))


def register(registry: kopf.OperatorRegistry) -> None:
    # The indexes are typed keyword arguments (kopf's examples/16-indexing); kopf's handler
    # protocols do not list them, hence the ignores on the decorators.
    @kopf.on.resume(*SET_RESOURCE, id="regulation-set", registry=registry)
    def report_set(body: kopf.Body, memo: Any, **_: Any) -> None:
        operator = state(memo)
        operator.connect()
        assert operator.kube is not None
        write_set_status(operator.kube, body)

    @kopf.on.create(*SET_RESOURCE, id="regulation-set", registry=registry)
    @kopf.on.update(*SET_RESOURCE, id="regulation-set", registry=registry)  # type: ignore[arg-type]
    def compile_and_propagate(
        name: str,
        body: kopf.Body,
        memo: Any,
        regulation_sets: RegulationSetIndex,
        tenants_by_regulation: TenantsByRegulation,
        **_: Any,
    ) -> None:
        operator = state(memo)
        operator.connect()
        assert operator.kube is not None
        write_set_status(operator.kube, body)
        _propagate(operator, name, regulation_sets, tenants_by_regulation)

    @kopf.on.delete(*SET_RESOURCE, id="regulation-set-gone", optional=True, registry=registry)  # type: ignore[arg-type]
    def set_removed(
        name: str,
        memo: Any,
        regulation_sets: RegulationSetIndex,
        tenants_by_regulation: TenantsByRegulation,
        **_: Any,
    ) -> None:
        # tenants that still reference it go Degraded (MissingRegulationSet) right away
        operator = state(memo)
        reconciler = operator.connect()
        remaining = [d for d in set_documents(regulation_sets) if d["metadata"]["name"] != name]
        for tenant in tenants_using(tenants_by_regulation, name):
            reconciler.reconcile(tenant, remaining)
