"""RegulationSet handlers: compile, report, and re-resolve every tenant that uses the set."""

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
    indexes_of,
    set_documents,
    state,
    tenants_using,
)
from ott_operator.kube import Kube
from ott_runtime.domain.contract import REGULATION_SET_PLURAL as SETS
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


def write_set_status(kube: Kube, body: Mapping[str, Any], used_by: list[str]) -> None:
    condition, count = compile_set(body)
    generation = body["metadata"].get("generation")
    existing = (body.get("status") or {}).get("conditions") or []
    status = {
        "observedGeneration": generation,
        "ruleCount": count,
        "conditions": merge_conditions(existing, [condition], generation=generation),
        "usedBy": used_by,
    }
    kube.patch_status(SETS, body["metadata"]["name"], status)
    for changed in transitions(existing, [condition]):
        kube.post_event(
            body, warning=changed.status is not True, reason=changed.reason, message=changed.message
        )


def refresh_used_by(
    operator: OperatorState,
    sets: kopf.Index[str, Any],
    tenants: kopf.Index[str, Any],
    *,
    leaving: str | None = None,
) -> None:
    """Keep ``status.usedBy`` of every set in step with the tenants that reference it."""
    kube = operator.kube
    assert kube is not None
    for document in set_documents(sets):
        name = document["metadata"]["name"]
        used_by = [t for t in tenants_using(tenants, name) if t != leaving]
        if used_by != document.get("usedBy"):
            kube.patch_status(SETS, name, {"usedBy": used_by})


def _propagate(
    operator: OperatorState,
    set_name: str,
    sets: kopf.Index[str, Any],
    tenants: kopf.Index[str, Any],
) -> None:
    reconciler = operator.connect()
    for tenant in tenants_using(tenants, set_name):
        log.info("RegulationSet %s changed: re-resolving tenant %s", set_name, tenant)
        reconciler.reconcile(tenant, set_documents(sets))


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.resume(*SET_RESOURCE, id="regulation-set", registry=registry)
    def report_set(
        name: str,
        body: kopf.Body,
        memo: Any,
        **kwargs: Any,
    ) -> None:
        _, tenants_by_regulation = indexes_of(kwargs)
        operator = state(memo)
        operator.connect()
        assert operator.kube is not None
        write_set_status(operator.kube, body, tenants_using(tenants_by_regulation, name))

    @kopf.on.create(*SET_RESOURCE, id="regulation-set", registry=registry)
    @kopf.on.update(*SET_RESOURCE, id="regulation-set", registry=registry)
    def compile_and_propagate(
        name: str,
        body: kopf.Body,
        memo: Any,
        **kwargs: Any,
    ) -> None:
        regulation_sets, tenants_by_regulation = indexes_of(kwargs)
        operator = state(memo)
        operator.connect()
        assert operator.kube is not None
        write_set_status(operator.kube, body, tenants_using(tenants_by_regulation, name))
        _propagate(operator, name, regulation_sets, tenants_by_regulation)

    @kopf.on.delete(*SET_RESOURCE, id="regulation-set-gone", optional=True, registry=registry)
    def set_removed(
        name: str,
        memo: Any,
        **kwargs: Any,
    ) -> None:
        regulation_sets, tenants_by_regulation = indexes_of(kwargs)
        # tenants that still reference it go Degraded (MissingRegulationSet) right away
        operator = state(memo)
        reconciler = operator.connect()
        remaining = [d for d in set_documents(regulation_sets) if d["metadata"]["name"] != name]
        for tenant in tenants_using(tenants_by_regulation, name):
            reconciler.reconcile(tenant, remaining)
