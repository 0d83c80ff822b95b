"""RegulationSet: a versioned, reusable body of CEL rules (GDPR, COPPA, AVMSD, ...).

Mirrors ``crds/regulationsets.compliance.ott.dev.yaml``: same fields, bounds and messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ott_runtime.domain.base import (
    DNS_LABEL_PATTERN,
    DnsLabel,
    ObjectMeta,
    SpecModel,
    StatusCondition,
    check_unique_condition_types,
)
from ott_runtime.domain.durations import Duration
from ott_runtime.domain.event_schema import EventSchemaSpec

NAME_PATTERN = DNS_LABEL_PATTERN
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
FIELD_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"

EventType = Annotated[str, StringConstraints(max_length=63, pattern=EVENT_TYPE_PATTERN)]
FieldPath = Annotated[str, StringConstraints(max_length=253, pattern=FIELD_PATH_PATTERN)]
RuleId = Annotated[str, StringConstraints(max_length=63, pattern=NAME_PATTERN)]


def duplicates(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    return sorted(repeated)


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


AGGREGATE_FIELD_MESSAGE = "field is required unless fn is count"
RULE_IDS_MESSAGE = "rule ids must be unique"
AGGREGATE_NAMES_MESSAGE = "aggregate names must be unique"


class Aggregate(SpecModel):
    """A windowed feature computed over past events that rules may read as ``aggregates.<name>``."""

    name: str = Field(
        pattern=IDENTIFIER_PATTERN,
        max_length=63,
        description="Name rules use to read it: aggregates.<name>.",
    )
    of: EventType = Field(description="Event type whose events feed this aggregate.")
    field: FieldPath | None = Field(
        default=None, description="Event field aggregated; not used by count."
    )
    fn: AggregateFn = Field(
        strict=False, description="Aggregation function: sum, count, avg, max or distinct."
    )
    window: Duration = Field(description="Sliding window length, e.g. 1h or 30d.")
    group_by: list[FieldPath] = Field(
        default_factory=list, max_length=4, description="Event fields that key separate windows."
    )
    where: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="Optional CEL filter; only events for which it is true count.",
    )

    @model_validator(mode="after")
    def _field_unless_count(self) -> Aggregate:
        if self.fn is not AggregateFn.COUNT and self.field is None:
            raise ValueError(f"{AGGREGATE_FIELD_MESSAGE} (aggregate {self.name!r}, fn {self.fn})")
        return self


class Rule(SpecModel):
    """One obligation: when the CEL condition holds for an event, a violation is raised."""

    id: RuleId = Field(description="Unique id within its set.")
    severity: Severity = Field(strict=False, description="low, medium, high or critical.")
    applies_to: list[EventType] = Field(
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


def check_unique_rule_ids(rules: list[Rule]) -> list[Rule]:
    repeated = duplicates(rule.id for rule in rules)
    if repeated:
        raise ValueError(f"{RULE_IDS_MESSAGE}: {', '.join(repeated)} repeated")
    return rules


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
    description: str | None = Field(
        default=None,
        max_length=4096,
        description="What the set covers and why, for the people who apply and review it.",
    )
    event_schema: EventSchemaSpec | None = Field(
        default=None, description="The platform's own event fields this set's rules read."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Named values rules read as params.<name>."
    )
    aggregates: list[Aggregate] = Field(
        default_factory=list, max_length=64, description="Windowed features rules may read."
    )
    rules: list[Rule] = Field(min_length=1, max_length=256, description="The rules of this set.")

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: list[Rule]) -> list[Rule]:
        return check_unique_rule_ids(rules)

    @field_validator("aggregates")
    @classmethod
    def _unique_aggregate_names(cls, aggregates: list[Aggregate]) -> list[Aggregate]:
        repeated = duplicates(a.name for a in aggregates)
        if repeated:
            raise ValueError(f"{AGGREGATE_NAMES_MESSAGE}: {', '.join(repeated)} repeated")
        return aggregates


class RegulationSet(SpecModel):
    api_version: Literal["compliance.ott.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["RegulationSet"]
    metadata: ObjectMeta
    spec: RegulationSetSpec
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name


class RegulationSetStatus(SpecModel):
    """``status`` of a RegulationSet as the operator writes it (a merge patch: all optional)."""

    observed_generation: int | None = Field(default=None, description="Generation described.")
    rule_count: int | None = Field(default=None, ge=0, description="Rules that compiled.")
    conditions: list[StatusCondition] = Field(
        default_factory=list, max_length=16, description="Latest observations, e.g. Compiled."
    )
    used_by: list[DnsLabel] = Field(
        default_factory=list, max_length=10000, description="Tenants that apply this set."
    )

    @field_validator("conditions")
    @classmethod
    def _unique_types(cls, conditions: list[StatusCondition]) -> list[StatusCondition]:
        return check_unique_condition_types(conditions)
