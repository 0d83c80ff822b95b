"""GET /v1/regulations, /v1/usage and /v1/keys: what applies to the tenant, what it costs,
and the states of its encryption keys."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from ott_runtime.api.schemas.common import InstantText, SeverityName, examples
from ott_runtime.domain.keyring import KeyState
from ott_runtime.domain.regulation import AggregateFn

RULE_EXAMPLE: dict[str, Any] = {
    "id": "no-targeted-ads-to-kids",
    "severity": "critical",
    "appliesTo": ["ad.impression"],
    "when": "event.viewer.isKidsProfile && event.ad.targeted",
    "message": "Targeted ad shown on a kids profile",
    "reference": "COPPA 16 CFR 312.5",
}


@examples(RULE_EXAMPLE)
class RuleDocument(TypedDict):
    """A rule in RegulationSet wire form (``domain.resolution.rule_document``)."""

    id: str
    severity: SeverityName
    appliesTo: list[str]
    when: Annotated[str, Field(description="The CEL condition; true raises a violation.")]
    message: str
    reference: str
    description: NotRequired[str]


AGGREGATE_EXAMPLE: dict[str, Any] = {
    "name": "adSecondsLastHour",
    "of": "ad.impression",
    "field": "ad.durationSeconds",
    "fn": "sum",
    "window": "1h",
    "groupBy": ["content.channelId"],
}


@examples(AGGREGATE_EXAMPLE)
class AggregateDocument(TypedDict):
    """An aggregate in RegulationSet wire form (unset optional fields are left out)."""

    name: str
    of: str
    field: NotRequired[str]
    fn: Annotated[str, WithJsonSchema({"type": "string", "enum": [f.value for f in AggregateFn]})]
    window: str
    groupBy: list[str]
    where: NotRequired[str]


REGULATION_EXAMPLE: dict[str, Any] = {
    "name": "kids-ads",
    "version": "2026.1",
    "jurisdiction": "US",
    "parameters": {"adSecondsPerHourMax": 60},
    "aggregates": [AGGREGATE_EXAMPLE],
    "rules": [RULE_EXAMPLE],
    "disabledRules": [],
}


@examples(REGULATION_EXAMPLE)
class ResolvedRegulation(TypedDict):
    """A regulation as it applies to the tenant: its parameters with the tenant's
    overrides, and the rules the tenant has not disabled."""

    name: str
    version: str
    jurisdiction: str
    parameters: dict[str, Any]
    aggregates: list[AggregateDocument]
    rules: list[RuleDocument]
    disabledRules: list[str]


RULE_HEALTH_EXAMPLE: dict[str, Any] = {
    "rule": "kids-ads/targeted-ad-to-kids",
    "regulation": "kids-ads",
    "evaluated": 1200,
    "hits": 3,
    "notApplied": 40,
    "errors": 0,
    "lastError": None,
    "lastMissingKey": "viewer",
}


@examples(RULE_HEALTH_EXAMPLE)
class RuleHealthDocument(TypedDict):
    """One rule's counters in this process since its rules were compiled (also in
    ``/metrics`` as ``ottc_rule_*_total``)."""

    rule: Annotated[str, Field(description="regulation/rule-id")]
    regulation: str
    evaluated: int
    hits: Annotated[int, Field(description="Evaluations whose condition held.")]
    notApplied: Annotated[
        int, Field(description="Evaluations skipped: the event lacked a field the rule reads.")
    ]
    errors: Annotated[int, Field(description="Evaluations that failed (see lastError).")]
    lastError: str | None
    lastMissingKey: Annotated[
        str | None, Field(description="The key the last skipped evaluation found missing.")
    ]


@examples({"tenant": "acme", "regulations": [REGULATION_EXAMPLE], "health": [RULE_HEALTH_EXAMPLE]})
class Regulations(TypedDict):
    tenant: str
    regulations: list[ResolvedRegulation]
    health: list[RuleHealthDocument]


Money = Annotated[
    str,
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["99.00"]}),
]


@examples({"base": "99.00", "events": "0.00", "apiCalls": "0.01", "ingest": "0.00"})
class ChargeItems(TypedDict):
    base: Money
    events: Money
    apiCalls: Money
    ingest: Money


CHARGE_EXAMPLE: dict[str, Any] = {
    "currency": "USD",
    "plan": "standard",
    "items": {"base": "99.00", "events": "0.00", "apiCalls": "0.01", "ingest": "0.00"},
    "total": "99.01",
}


@examples(CHARGE_EXAMPLE)
class Charge(TypedDict):
    """The month's charge so far, itemised, in cents as decimal text."""

    currency: Annotated[str, Field(description="ISO 4217 code.")]
    plan: str
    items: ChargeItems
    total: Money


HOUR_EXAMPLE: dict[str, Any] = {
    "hour": "2026-11-26T20:00:00+00:00",
    "events": 120,
    "apiCalls": 14,
    "bytes": 48213,
    "ruleEvaluations": 240,
}


@examples(HOUR_EXAMPLE)
class UsageHour(TypedDict):
    hour: InstantText
    events: int
    apiCalls: int
    bytes: int
    ruleEvaluations: int


@examples(
    {
        "tenant": "acme",
        "period": "2026-11",
        "plan": "standard",
        "events": 120,
        "apiCalls": 14,
        "bytes": 48213,
        "ruleEvaluations": 240,
        "estimatedCharge": CHARGE_EXAMPLE,
        "hours": [HOUR_EXAMPLE],
    }
)
class Usage(TypedDict):
    """A month's metered usage and its estimated charge."""

    tenant: str
    period: Annotated[str, Field(description="The month, e.g. 2026-11.")]
    plan: str
    events: int
    apiCalls: int
    bytes: Annotated[int, Field(description="Request bytes ingested.")]
    ruleEvaluations: int
    estimatedCharge: Charge
    hours: Annotated[list[UsageHour], Field(description="Hours with usage, oldest first.")]


KEY_EXAMPLE: dict[str, Any] = {
    "version": 1,
    "state": "primary",
    "created": "2026-11-01T09:00:00+00:00",
    "encryptedRows": 120,
}


@examples(KEY_EXAMPLE)
class KeyVersion(TypedDict):
    """One key version: never its material."""

    version: int
    state: Annotated[str, WithJsonSchema({"type": "string", "enum": [s.value for s in KeyState]})]
    created: InstantText
    encryptedRows: Annotated[int, Field(description="Stored events sealed with it.")]


@examples(
    {
        "tenant": "acme",
        "activeVersion": 1,
        "lastRotation": None,
        "keys": [KEY_EXAMPLE],
        "reloads": 0,
        "lastReloadError": None,
        "encryptedFields": ["viewer.id", "viewer.email", "device.ip"],
        "searchableFields": ["viewer.id"],
    }
)
class KeyStatus(TypedDict):
    """The tenant's keyring: versions and states, and which fields are protected."""

    tenant: str
    activeVersion: Annotated[int, Field(description="The version new events are sealed with.")]
    lastRotation: InstantText | None
    keys: list[KeyVersion]
    reloads: Annotated[int, Field(description="Times the keyring file was reloaded.")]
    lastReloadError: str | None
    encryptedFields: list[str]
    searchableFields: Annotated[
        list[str], Field(description="Encrypted fields with a blind index (GET /v1/events).")
    ]
