"""How each of a tenant's rules fares since it was compiled: evaluated, fired, did not
apply because the event lacked a field it reads (with that field), failed (with the last
error). A rule that never applies never fires, silently; these counters make it visible
in ``/metrics`` (``ottc_rule_*_total``) and in ``GET /v1/regulations``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvaluationStats:
    """Counters since compile, by qualified rule id (``regulation/rule``)."""

    evaluated: Counter[str] = field(default_factory=Counter)
    hits: Counter[str] = field(default_factory=Counter)
    missing: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    last_error: dict[str, str] = field(default_factory=dict)
    last_missing: dict[str, str] = field(default_factory=dict)  # the absent key, as CEL names it


@dataclass(frozen=True)
class RuleHealth:
    rule: str  # qualified id
    regulation: str
    evaluated: int
    hits: int
    not_applied: int
    errors: int
    last_error: str | None
    last_missing: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "regulation": self.regulation,
            "evaluated": self.evaluated,
            "hits": self.hits,
            "notApplied": self.not_applied,
            "errors": self.errors,
            "lastError": self.last_error,
            "lastMissingKey": self.last_missing,
        }


def rule_health(stats: EvaluationStats, rules: dict[str, str]) -> list[RuleHealth]:
    """One entry per rule of ``rules`` (qualified id -> regulation), in that order."""
    return [
        RuleHealth(
            qualified,
            regulation,
            stats.evaluated[qualified],
            stats.hits[qualified],
            stats.missing[qualified],
            stats.errors[qualified],
            stats.last_error.get(qualified),
            stats.last_missing.get(qualified),
        )
        for qualified, regulation in rules.items()
    ]
