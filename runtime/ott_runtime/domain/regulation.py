"""RegulationSet: a versioned, reusable body of CEL rules (GDPR, COPPA, AVMSD, ...)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from ott_runtime.domain.base import ObjectMeta, SpecModel
from ott_runtime.domain.durations import Duration

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
FIELD_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class AggregateFn(StrEnum):
    SUM = "sum"
    COUNT = "count"
    AVG = "avg"
    MAX = "max"
    DISTINCT = "distinct"


class Aggregate(SpecModel):
    """A windowed feature computed over past events that rules may read as ``aggregates.<name>``."""

    name: str = Field(
        pattern=IDENTIFIER_PATTERN,
        max_length=63,
        description="Name rules use to read it: aggregates.<name>.",
    )
    of: str = Field(
        pattern=EVENT_TYPE_PATTERN,
        max_length=63,
        description="Event type whose events feed this aggregate.",
    )
    field: str | None = Field(
        default=None,
        pattern=FIELD_PATH_PATTERN,
        max_length=253,
        description="Event field aggregated; not used by count.",
    )
    fn: AggregateFn = Field(description="Aggregation function: sum, count, avg, max or distinct.")
    window: Duration = Field(max_length=32, description="Sliding window length, e.g. 1h or 30d.")
    group_by: list[str] = Field(
        default_factory=list, max_length=4, description="Event fields that key separate windows."
    )
    where: str | None = Field(
        default=None,
        max_length=2048,
        description="Optional CEL filter; only events for which it is true count.",
    )

    @model_validator(mode="after")
    def _field_unless_count(self) -> Aggregate:
        if self.fn is not AggregateFn.COUNT and not self.field:
            raise ValueError(f"aggregate {self.name!r}: fn {self.fn.value} needs a field")
        return self


class Rule(SpecModel):
    """One obligation: when the CEL condition holds for an event, a violation is raised."""

    id: str = Field(pattern=NAME_PATTERN, max_length=63, description="Unique id within its set.")
    severity: Severity = Field(description="low, medium, high or critical.")
    applies_to: list[str] = Field(
        min_length=1, max_length=16, description="Event types this rule is evaluated for."
    )
    when: str = Field(
        min_length=1,
        max_length=4096,
        description="CEL condition over event, params and aggregates; true = violation.",
    )
    message: str = Field(
        min_length=1,
        max_length=1024,
        description="Violation message; {{params.x}} and {{event.y}} are filled in.",
    )
    reference: str = Field(
        min_length=1,
        max_length=256,
        description="Article or section of the legal text, e.g. 'GDPR Art. 8(1)'.",
    )
    description: str | None = Field(
        default=None, max_length=2048, description="What the obligation is, in plain words."
    )

    @model_validator(mode="after")
    def _event_types(self) -> Rule:
        import re

        for event_type in self.applies_to:
            if not re.fullmatch(EVENT_TYPE_PATTERN, event_type):
                raise ValueError(f"rule {self.id!r}: appliesTo {event_type!r} is not an event type")
        return self


class RegulationSetSpec(SpecModel):
    jurisdiction: str = Field(
        min_length=1,
        max_length=64,
        description="Where it applies: EU, US, IN, or a territory code.",
    )
    version: str = Field(
        min_length=1, max_length=64, description="Version of the legal text, e.g. '2018/1808'."
    )
    title: str | None = Field(default=None, max_length=256, description="Human-readable title.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Named values rules read as params.<name>."
    )
    aggregates: list[Aggregate] = Field(
        default_factory=list, max_length=64, description="Windowed features rules may read."
    )
    rules: list[Rule] = Field(min_length=1, max_length=256, description="The rules of this set.")

    @model_validator(mode="after")
    def _unique_ids(self) -> RegulationSetSpec:
        for kind, names in (
            ("rule id", [r.id for r in self.rules]),
            ("aggregate name", [a.name for a in self.aggregates]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind}: {', '.join(duplicates)}")
        return self


class RegulationSet(SpecModel):
    api_version: Literal["compliance.ott.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["RegulationSet"]
    metadata: ObjectMeta
    spec: RegulationSetSpec
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name
