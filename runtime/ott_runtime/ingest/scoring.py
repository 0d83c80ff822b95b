"""The model-score hook: the pipeline asks a RiskScorer for each accepted event's risk.

The models (LSTM, Transformer, ensemble) plug in by implementing :class:`RiskScorer`; until
then :class:`NoRiskScorer` scores nothing and the pipeline stores no risk rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ScoringInput:
    """One accepted event, in plaintext, with what the rules found."""

    tenant: str
    event: Mapping[str, Any]
    rule_hits: Sequence[Mapping[str, Any]]  # {regulation, ruleId, severity}
    aggregates: Mapping[str, Any]


@dataclass(frozen=True)
class RiskScore:
    score: float  # 0..1
    model: str  # name@version of what produced it
    explanation: dict[str, Any] = field(default_factory=dict)  # e.g. per-feature importance

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"risk score must be within 0..1, got {self.score}")


@runtime_checkable
class RiskScorer(Protocol):
    """Scores a batch of events of one tenant. Returns one entry per input, in order;
    None where the scorer has no opinion (no risk row is written for it)."""

    async def score(self, batch: Sequence[ScoringInput]) -> Sequence[RiskScore | None]: ...


class NoRiskScorer:
    """The default until models are trained: no score for anything."""

    async def score(self, batch: Sequence[ScoringInput]) -> Sequence[RiskScore | None]:
        return [None] * len(batch)
