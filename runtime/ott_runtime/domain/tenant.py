"""ComplianceTenant: one OTT platform, its plan, regulations, scaling, keys and gateway.

Mirrors ``crds/compliancetenants.compliance.ott.dev.yaml``: same fields, bounds, defaults and
cross-field rules (the CRD states them in CEL, here they are validators with the same text).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ott_runtime.domain.base import (
    DNS_SUBDOMAIN_PATTERN,
    SECRET_KEY_PATTERN,
    DnsLabel,
    SpecModel,
    StatusCondition,
    TenantMeta,
    check_unique_condition_types,
)
from ott_runtime.domain.durations import Duration
from ott_runtime.domain.event_schema import EventSchemaSpec
from ott_runtime.domain.keyring import KeyState
from ott_runtime.domain.regulation import (
    FieldPath,
    Rule,
    RuleId,
    Severity,
    check_unique_rule_ids,
    duplicates,
)


def _cron_field(value: str) -> str:
    item = rf"(\*|{value}(-{value})?)(/[1-9][0-9]?)?"
    return rf"{item}(,{item})*"


CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    + " +".join(
        _cron_field(value)
        for value in (
            "[0-5]?[0-9]",  # minute
            "([01]?[0-9]|2[0-3])",  # hour
            "(0?[1-9]|[12][0-9]|3[01])",  # day of month
            "(0?[1-9]|1[0-2])",  # month
            "[0-7]",  # day of week (0 and 7 are Sunday)
        )
    )
    + ")$"
)
"""Five numeric cron fields (``*``, values, ranges, lists, ``/steps``) or a macro such as
``@weekly``: what a CronJob accepts, with each value in its field's range. The CRD uses
this very pattern (a test checks it)."""

POOLED_REPLICAS_MESSAGE = (
    "scoring.replicas is not allowed for pooled isolation (the shared pool scales on its own)"
)
EMBEDDED_REPLICAS_MESSAGE = (
    "embedded storage (SQLite) allows one replica: scoring.replicas.max must be 1"
)
REPLICAS_ORDER_MESSAGE = "replicas.min must be less than or equal to replicas.max"
EXTERNAL_NEEDS_SECRET_MESSAGE = "databaseSecretRef is required when mode is external"
SECRET_ONLY_FOR_EXTERNAL_MESSAGE = "databaseSecretRef is only allowed when mode is external"
REGULATIONS_UNIQUE_MESSAGE = "each RegulationSet may be listed once"
SEARCHABLE_ENCRYPTED_MESSAGE = "every searchable field must be one of the encrypted fields"


class Plan(StrEnum):
    FREE = "free"
    STANDARD = "standard"
    ENTERPRISE = "enterprise"


class Isolation(StrEnum):
    DEDICATED = "dedicated"
    POOLED = "pooled"


class StorageMode(StrEnum):
    EMBEDDED = "embedded"
    EXTERNAL = "external"
    MANAGED = "managed"


class Phase(StrEnum):
    PROVISIONING = "Provisioning"
    READY = "Ready"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    ERROR = "Error"


class RegulationRef(SpecModel):
    name: DnsLabel = Field(description="RegulationSet name.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the set's parameters."
    )
    disabled_rules: list[RuleId] = Field(
        default_factory=list,
        max_length=256,
        description="Rule ids of the set not applied to this tenant.",
    )


class Replicas(SpecModel):
    min: int = Field(default=1, ge=1, le=100, description="Fewest scoring replicas.")
    max: int = Field(default=3, ge=1, le=100, description="Most scoring replicas (HPA bound).")

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"{REPLICAS_ORDER_MESSAGE} (min {self.min}, max {self.max})")
        return self


class ModelToggles(SpecModel):
    lstm: bool = Field(default=True, description="Seasonal LSTM anomaly detector on metric series.")
    transformer: bool = Field(default=True, description="Transformer risk scorer on sessions.")


class Scoring(SpecModel):
    replicas: Replicas | None = Field(
        default=None, description="Dedicated tenants only; default by plan."
    )
    target_cpu_utilization: int = Field(
        default=70,
        ge=10,
        le=100,
        alias="targetCPUUtilization",
        description="HPA CPU target in percent.",
    )
    risk_threshold: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Risk score at or above which an alert is raised."
    )
    models: ModelToggles = Field(default_factory=ModelToggles, description="Which models run.")
    retrain_schedule: str = Field(
        default="0 3 * * 0",
        max_length=128,
        pattern=CRON_PATTERN,
        description="Cron schedule of the model-retrain CronJob.",
    )


class Encryption(SpecModel):
    rotation_interval: Duration = Field(
        default="720h", description="How often a new primary key is made."
    )
    fields: list[FieldPath] = Field(
        default_factory=list, max_length=64, description="Event field paths encrypted at rest."
    )
    searchable: list[FieldPath] = Field(
        default_factory=list,
        max_length=64,
        description=(
            "Encrypted fields that get a blind index, so events can be found by an exact "
            "value. An index shows which events share a value, so list only what you query."
        ),
    )

    @model_validator(mode="after")
    def _searchable_are_encrypted(self) -> Encryption:
        unknown = [path for path in self.searchable if path not in self.fields]
        if unknown:
            raise ValueError(
                f"{SEARCHABLE_ENCRYPTED_MESSAGE} (not encrypted: {', '.join(unknown)})"
            )
        return self


class RateLimit(SpecModel):
    per_second: int | None = Field(default=None, ge=1, le=100000, description="Requests a second.")
    per_minute: int | None = Field(default=None, ge=1, le=6000000, description="Requests a minute.")


class Gateway(SpecModel):
    host: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Public host name of the tenant's endpoint.",
    )
    path_prefix: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^/[A-Za-z0-9/_.-]*$",
        description="Path prefix, default /tenants/<name>.",
    )
    rate_limit: RateLimit | None = Field(
        default=None, description="Overrides of the plan's gateway limits."
    )


class SecretKeyRef(SpecModel):
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Secret name.")
    key: str = Field(max_length=253, pattern=SECRET_KEY_PATTERN, description="Key in the Secret.")


class Storage(SpecModel):
    mode: StorageMode = Field(
        default=StorageMode.EMBEDDED,
        strict=False,
        description="embedded (SQLite on a PVC), external or managed.",
    )
    database_secret_ref: SecretKeyRef | None = Field(
        default=None, description="external only: Secret key holding the PostgreSQL URL."
    )
    size: str = Field(
        default="1Gi",
        max_length=16,
        pattern=r"^[1-9][0-9]*(Mi|Gi|Ti)$",
        description="Volume size (embedded PVC or managed cluster).",
    )

    @model_validator(mode="after")
    def _external_needs_secret(self) -> Storage:
        external = self.mode is StorageMode.EXTERNAL
        if external and self.database_secret_ref is None:
            raise ValueError(EXTERNAL_NEEDS_SECRET_MESSAGE)
        if not external and self.database_secret_ref is not None:
            raise ValueError(f"{SECRET_ONLY_FOR_EXTERNAL_MESSAGE} (mode is {self.mode})")
        return self


class Retention(SpecModel):
    events: Duration = Field(default="90d", description="How long events are kept.")
    violations: Duration = Field(default="365d", description="How long violations are kept.")


class Webhook(SpecModel):
    # Printable ASCII spelled out: \S means different things to Go, Rust and Python regexes.
    url: str = Field(pattern=r"^https?://[!-~]+$", max_length=2048, description="Receiver URL.")
    secret_ref: SecretKeyRef = Field(description="Secret key holding the HMAC signing secret.")
    min_severity: Severity = Field(
        default=Severity.HIGH, strict=False, description="Lowest severity that is pushed."
    )


class Notifications(SpecModel):
    webhooks: list[Webhook] = Field(
        default_factory=list, max_length=8, description="Signed webhooks for violations and alerts."
    )


DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ComplianceTenantSpec(SpecModel):
    display_name: DisplayName = Field(description="Name shown to people.")
    plan: Plan = Field(
        default=Plan.STANDARD, strict=False, description="free, standard or enterprise."
    )
    isolation: Isolation = Field(
        default=Isolation.DEDICATED, strict=False, description="dedicated or pooled."
    )
    suspended: bool = Field(default=False, description="Scale scoring to zero and refuse ingest.")
    regulations: list[RegulationRef] = Field(
        default_factory=list, max_length=32, description="RegulationSets applied, with overrides."
    )
    custom_rules: list[Rule] = Field(
        default_factory=list,
        max_length=128,
        description="Tenant-specific rules, same schema as a set's.",
    )
    event_schema: EventSchemaSpec | None = Field(
        default=None, description="The platform's own event fields: accepted and readable."
    )
    scoring: Scoring = Field(default_factory=Scoring, description="Scaling and models.")
    encryption: Encryption = Field(default_factory=Encryption, description="Field encryption.")
    gateway: Gateway = Field(default_factory=Gateway, description="Kong routing and limits.")
    storage: Storage = Field(default_factory=Storage, description="Where results live.")
    retention: Retention = Field(default_factory=Retention, description="Data retention.")
    notifications: Notifications = Field(
        default_factory=Notifications, description="Push notifications."
    )

    @field_validator("regulations")
    @classmethod
    def _each_set_once(cls, regulations: list[RegulationRef]) -> list[RegulationRef]:
        repeated = duplicates(ref.name for ref in regulations)
        if repeated:
            raise ValueError(f"{REGULATIONS_UNIQUE_MESSAGE}: {', '.join(repeated)} repeated")
        return regulations

    @field_validator("custom_rules")
    @classmethod
    def _unique_custom_rule_ids(cls, rules: list[Rule]) -> list[Rule]:
        return check_unique_rule_ids(rules)

    @model_validator(mode="after")
    def _replicas_fit_isolation_and_storage(self) -> ComplianceTenantSpec:
        replicas = self.scoring.replicas
        if replicas is None:
            return self
        if self.isolation is Isolation.POOLED:
            raise ValueError(POOLED_REPLICAS_MESSAGE)
        if self.storage.mode is StorageMode.EMBEDDED and replicas.max > 1:
            raise ValueError(EMBEDDED_REPLICAS_MESSAGE)
        return self


DECIMAL_AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
DecimalAmount = Annotated[str, StringConstraints(max_length=32, pattern=DECIMAL_AMOUNT_PATTERN)]


class KeyVersionStatus(SpecModel):
    version: int = Field(ge=1, description="Key version number.")
    state: KeyState = Field(strict=False, description="primary or decrypt-only.")
    created: str | None = Field(default=None, description="RFC 3339 time the key was made.")


class KeysStatus(SpecModel):
    """``status.keys``: versions and dates of the keyring, never material."""

    active_version: int | None = Field(default=None, ge=1, description="Primary key version.")
    last_rotation: str | None = Field(default=None, description="RFC 3339 time of last rotation.")
    next_rotation: str | None = Field(default=None, description="RFC 3339 time of next rotation.")
    versions: list[KeyVersionStatus] = Field(
        default_factory=list, max_length=1000, description="Every key version kept."
    )


class ResolvedRegulation(SpecModel):
    name: DnsLabel = Field(description="RegulationSet name.")
    version: str | None = Field(default=None, max_length=64, description="Legal text version.")
    rules: int | None = Field(default=None, ge=0, description="Rules applied from the set.")


class EstimatedCharge(SpecModel):
    """The shape ``ott_runtime.usage.pricing.Prices.estimate`` returns."""

    currency: str | None = Field(
        default=None, max_length=3, pattern=r"^[A-Z]{3}$", description="ISO 4217 code."
    )
    plan: Plan | None = Field(default=None, strict=False, description="Plan whose prices apply.")
    total: DecimalAmount | None = Field(default=None, description="Total, e.g. '12.50'.")
    items: dict[str, DecimalAmount] = Field(
        default_factory=dict, max_length=16, description="Amount per charge item."
    )


class UsageStatus(SpecModel):
    period: str | None = Field(default=None, max_length=32, description="Month, e.g. 2026-11.")
    events: int | None = Field(default=None, ge=0, description="Events ingested.")
    api_calls: int | None = Field(default=None, ge=0, description="API calls served.")
    estimated_charge: EstimatedCharge | None = Field(default=None, description="Charge so far.")


class ComplianceTenantStatus(SpecModel):
    """``status`` of a tenant as the operator writes it (a merge patch: all optional)."""

    phase: Phase | None = Field(default=None, strict=False, description="Summary state.")
    observed_generation: int | None = Field(default=None, description="Generation described.")
    conditions: list[StatusCondition] = Field(
        default_factory=list, max_length=16, description="Latest observations."
    )
    namespace: str | None = Field(default=None, max_length=63, description="Workload namespace.")
    endpoint: str | None = Field(default=None, max_length=2048, description="Events URL.")
    api_key_secret: str | None = Field(
        default=None, max_length=253, description="Secret holding the API key."
    )
    keys: KeysStatus | None = Field(default=None, description="Keyring state.")
    regulations: list[ResolvedRegulation] = Field(
        default_factory=list, max_length=32, description="Resolved RegulationSets."
    )
    usage: UsageStatus | None = Field(default=None, description="Usage this period.")

    @field_validator("conditions")
    @classmethod
    def _unique_types(cls, conditions: list[StatusCondition]) -> list[StatusCondition]:
        return check_unique_condition_types(conditions)


class ComplianceTenant(SpecModel):
    api_version: Literal["compliance.ott.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ComplianceTenant"]
    metadata: TenantMeta
    spec: ComplianceTenantSpec
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name
