"""``RulesHealthy``: the operator asks each tenant's runtime how its rules fare
(``GET /v1/regulations``, as it asks for usage) and says in the tenant's status which rules
errored or never applied, with a Kubernetes Event when that changes.

A rule "never applied" when it was evaluated at least ``min_evaluations`` times and every
evaluation was skipped because the event lacked a field the rule reads: the platform's
events do not carry what the rule expects, and it cannot fire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ott_operator.conditions import Condition, ConditionType, merge_conditions
from ott_operator.kube import TENANTS, KubeAPI
from ott_operator.settings import OperatorSettings
from ott_operator.status_patch import patch_status
from ott_operator.usage import RuntimeUnavailable, runtime_document, tenant_to_ask

log = logging.getLogger(__name__)
MIN_EVALUATIONS = 100
LISTED = 10  # rules named in the message; the rest are counted


def rules_healthy(
    health: Sequence[Mapping[str, Any]], min_evaluations: int = MIN_EVALUATIONS
) -> Condition:
    """The condition for one runtime's ``health`` entries (``GET /v1/regulations``)."""
    errored = [h for h in health if h.get("errors", 0) > 0]
    never = [
        h
        for h in health
        if h.get("evaluated", 0) >= min_evaluations and h.get("notApplied") == h.get("evaluated")
    ]
    kind = ConditionType.RULES_HEALTHY
    if not errored and not never:
        return Condition(kind, True, "RulesApply", f"{len(health)} rules evaluate without errors")
    parts = [
        f"{h['rule']} errored {h['errors']} times (last: {h.get('lastError')})" for h in errored
    ] + [
        f"{h['rule']} never applied in {h['evaluated']} evaluations "
        f"(missing: {h.get('lastMissingKey')})"
        for h in never
    ]
    shown = "; ".join(parts[:LISTED]) + (
        f"; and {len(parts) - LISTED} more" if len(parts) > LISTED else ""
    )
    reason = "RulesErrored" if errored else "RulesNeverApplied"
    return Condition(kind, False, reason, shown)


def refresh_rules_healthy(kube: KubeAPI, settings: OperatorSettings, name: str) -> Condition | None:
    """Write ``RulesHealthy`` into the tenant's status when it changed, with an Event on a
    transition; None when the runtime did not answer (the last condition stays)."""
    body = tenant_to_ask(kube, name)
    if body is None:
        return None
    try:
        document = runtime_document(kube, settings, body, "/v1/regulations")
    except (RuntimeUnavailable, ValueError) as exc:
        log.debug("tenant %s: rule health not refreshed: %s", name, exc)
        return None
    health = document.get("health")
    if not isinstance(health, list):
        return None  # a runtime of an older version: nothing to say
    condition = rules_healthy(health)
    announce: list[bool] = []

    def transaction(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
        status = current.get("status") or {}
        conditions = status.get("conditions") or []
        before = next((c for c in conditions if c.get("type") == condition.type.value), None)
        now = (condition.status_text, condition.reason, condition.message)
        if before and (before.get("status"), before.get("reason"), before.get("message")) == now:
            return None
        # an Event when the verdict changes, and when a first verdict is a problem
        announce[:] = [
            before.get("status") != condition.status_text if before else not condition.status
        ]
        generation = current["metadata"].get("generation")
        return {"conditions": merge_conditions(conditions, [condition], generation=generation)}

    patch_status(kube, TENANTS, name, transaction, read=body)
    if announce and announce[0]:
        kube.post_event(
            body, warning=not condition.status, reason=condition.reason, message=condition.message
        )
    return condition
