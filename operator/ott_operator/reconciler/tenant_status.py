"""A tenant's status and the Kubernetes Events to post, computed from what one pass observed.

Pure: no API calls. ``tenant_status`` takes the pass's observations and the status the
tenant has now, and says what the status becomes, whether that differs from now (only then
is it written), and which Events to post: what the pass did (applied, pruned, keys), each
condition that changed, and a failure not reported before. Under the optimistic lock
(``ott_operator.status_patch``) it is computed again from the fresh status after a
conflict, so transitions and Events are always relative to what is really stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ott_operator.conditions import (
    TENANT_COMPONENTS,
    Condition,
    ConditionType,
    merge_conditions,
    summarize_ready,
    transitions,
)
from ott_operator.status import phase
from ott_runtime.domain.tenant import Phase

# waiting for pods or for the gateway is normal; broken rules or keys are not
_MUST_HOLD = {ConditionType.REGULATIONS_RESOLVED, ConditionType.KEYS_READY}


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post about the tenant."""

    warning: bool
    reason: str
    message: str


@dataclass
class Observations:
    """What one reconcile pass found out and did, before any status is written."""

    generation: int | None
    suspended: bool = False
    conditions: dict[ConditionType, Condition] = field(default_factory=dict)
    # the status fields beside phase and conditions: namespace, endpoint, apiKeySecret, keys,
    # regulations (as far as the pass got)
    fields: dict[str, Any] = field(default_factory=dict)
    # what the pass changed in the cluster (Applied, Pruned, KeysRotated, ...)
    events: list[Event] = field(default_factory=list)
    # why the pass stopped short (an invalid spec, an unreadable keyring, a refused apply)
    failed: str | None = None


@dataclass(frozen=True)
class TenantStatus:
    status: dict[str, Any]
    changed: bool  # differs from the current status: write it
    events: list[Event]
    phase: Phase
    ready: Condition


def _ready(observed: Observations, existing: list[Mapping[str, Any]]) -> Condition:
    if observed.failed:
        return Condition(ConditionType.READY, False, "ReconcileFailed", observed.failed)
    # a component not observed in this pass counts as not ready
    previous = {c.get("type"): c for c in existing}
    components = [observed.conditions[t] for t in TENANT_COMPONENTS if t in observed.conditions]
    for kind in TENANT_COMPONENTS:
        if kind not in observed.conditions:
            old = previous.get(kind.value)
            components.append(
                Condition(kind, None, "NotEvaluated", "not evaluated: an earlier step failed")
                if old is None
                else Condition(kind, None, str(old.get("reason", "")), str(old.get("message", "")))
            )
    return summarize_ready(components)


def tenant_status(
    observed: Observations, current: Mapping[str, Any] | None, *, now: datetime | None = None
) -> TenantStatus:
    """``current``: the tenant's status as stored now (None when it has none yet)."""
    current = current or {}
    existing: list[Mapping[str, Any]] = list(current.get("conditions") or [])
    known = [observed.conditions[t] for t in TENANT_COMPONENTS if t in observed.conditions]
    ready = _ready(observed, existing)
    updates = [*known, ready]
    current_phase = phase(
        {**observed.conditions, ConditionType.READY: ready},
        suspended=observed.suspended,
        failed=observed.failed is not None,
    )
    status = {
        **observed.fields,
        "phase": current_phase.value,
        "observedGeneration": observed.generation,
        "conditions": merge_conditions(existing, updates, generation=observed.generation, now=now),
    }
    events = list(observed.events)
    for condition in transitions(existing, updates):
        if condition.type is ConditionType.READY and condition.status is not True:
            continue  # its components already say why
        warning = condition.status is not True and condition.type in _MUST_HOLD
        events.append(Event(warning, condition.reason, condition.message))
    previous_ready = next((c for c in existing if c.get("type") == "Ready"), {})
    if observed.failed and previous_ready.get("message") != observed.failed:
        events.append(Event(True, "ReconcileFailed", observed.failed))
    return TenantStatus(
        status=status,
        changed=any(current.get(k) != v for k, v in status.items()),
        events=events,
        phase=current_phase,
        ready=ready,
    )
