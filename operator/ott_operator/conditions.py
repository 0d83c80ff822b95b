"""Status conditions as the Kubernetes API conventions define them.

``lastTransitionTime`` moves only when a condition's status changes; reason, message and
``observedGeneration`` are refreshed on every write. Pure functions: the handlers decide
what is true, these only keep the bookkeeping right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

MAX_MESSAGE = 32768


class ConditionType(StrEnum):
    READY = "Ready"
    REGULATIONS_RESOLVED = "RegulationsResolved"
    KEYS_READY = "KeysReady"
    GATEWAY_READY = "GatewayReady"
    SCORING_AVAILABLE = "ScoringAvailable"
    COMPILED = "Compiled"
    RULES_HEALTHY = "RulesHealthy"  # not part of Ready: a warning, the tenant still serves


# What Ready sums up, in the order a person reads them.
TENANT_COMPONENTS = (
    ConditionType.REGULATIONS_RESOLVED,
    ConditionType.KEYS_READY,
    ConditionType.GATEWAY_READY,
    ConditionType.SCORING_AVAILABLE,
)


@dataclass(frozen=True)
class Condition:
    type: ConditionType
    status: bool | None  # None: Unknown
    reason: str
    message: str

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else str(self.status)


def timestamp(now: datetime | None = None) -> str:
    """RFC 3339 in UTC with a Z, seconds precision (metav1.Time)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    existing: Sequence[Mapping[str, Any]] | None,
    updates: Iterable[Condition],
    *,
    generation: int | None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The new conditions list: ``updates`` replace their types, other types are kept."""
    by_type: dict[str, dict[str, Any]] = {str(c["type"]): dict(c) for c in existing or ()}
    for condition in updates:
        previous = by_type.get(condition.type.value)
        changed = previous is None or previous.get("status") != condition.status_text
        entry: dict[str, Any] = {
            "type": condition.type.value,
            "status": condition.status_text,
            "reason": condition.reason,
            "message": condition.message[:MAX_MESSAGE],
            "lastTransitionTime": (
                timestamp(now)
                if changed or previous is None
                else previous.get("lastTransitionTime", timestamp(now))
            ),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        by_type[condition.type.value] = entry
    return list(by_type.values())


def transitions(
    existing: Sequence[Mapping[str, Any]] | None, updates: Iterable[Condition]
) -> list[Condition]:
    """The updates whose status differs from before: what deserves a Kubernetes Event."""
    before = {str(c["type"]): c.get("status") for c in existing or ()}
    return [c for c in updates if before.get(c.type.value) != c.status_text]


def summarize_ready(components: Sequence[Condition]) -> Condition:
    """Ready is True only when every component condition is True; otherwise it says which
    are not and why, so ``kubectl get`` never claims more than is true."""
    pending = [c for c in components if c.status is not True]
    if not pending:
        return Condition(ConditionType.READY, True, "Ready", "all components are ready")
    message = "; ".join(f"{c.type.value}: {c.message}" for c in pending)
    return Condition(ConditionType.READY, False, "ComponentsNotReady", message)
