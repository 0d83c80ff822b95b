"""Resolve a tenant's regulations into one rule set and compile it, before anything is applied.

A tenant whose rules do not resolve or compile gets a False RegulationsResolved condition
naming what is wrong (the missing set, the bad reference, the rule and its position) and
nothing else of it changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ott_operator.conditions import Condition, ConditionType
from ott_operator.inputs import regulation_sets
from ott_runtime.domain.rules import (
    MissingRegulationSets,
    ResolvedRules,
    RuleCompileError,
    RuleResolutionError,
    compile_rules,
    resolve_rules,
)
from ott_runtime.domain.tenant import ComplianceTenant

MISSING_SET = "MissingRegulationSet"


def resolve(
    tenant: ComplianceTenant, set_documents: Iterable[Mapping[str, Any]]
) -> tuple[Condition, ResolvedRules | None]:
    """The RegulationsResolved condition, and the compiled rules when it is True."""
    kind = ConditionType.REGULATIONS_RESOLVED
    sets, broken = regulation_sets(set_documents)
    try:
        resolved = resolve_rules(tenant.spec, sets)
        compile_rules(resolved)
    except MissingRegulationSets as exc:
        return Condition(kind, False, MISSING_SET, str(exc)), None
    except RuleResolutionError as exc:
        problems = "; ".join([*broken, *exc.problems])
        return Condition(kind, False, "InvalidRegulationReference", problems), None
    except RuleCompileError as exc:
        listed = "; ".join(
            f"rule {e.regulation}/{e.rule_id} at line {e.line}, column {e.column}: {e.message}"
            for e in exc.errors
        )
        return Condition(kind, False, "RuleCompileError", listed), None
    summary = ", ".join(
        f"{r['name']}@{r['version']} ({r['rules']} rules)" for r in resolved.regulations
    )
    message = f"compiled {len(resolved.rules)} rules: {summary or 'none'}"
    return Condition(kind, True, "Resolved", message), resolved
