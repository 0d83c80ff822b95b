"""ComplianceTenant: one OTT platform, its plan, regulations, scaling, keys and gateway."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from ott_runtime.domain.base import ObjectMeta, SpecModel
from ott_runtime.domain.durations import Duration
from ott_runtime.domain.regulation import FIELD_PATH_PATTERN, NAME_PATTERN, Rule, Severity


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
    name: str = Field(pattern=NAME_PATTERN, max_length=63, description="RegulationSet name.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the set's parameters."
    )
    disabled_rules: list[str] = Field(
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
            raise ValueError(f"replicas.min ({self.min}) must be <= replicas.max ({self.max})")
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
        max_length=64,
        pattern=r"^(\S+\s+){4}\S+$",
        description="Cron schedule of the model-retrain CronJob.",
    )


class Encryption(SpecModel):
    rotation_interval: Duration = Field(
        default="720h", max_length=32, description="How often a new primary key is made."
    )
    fields: list[str] = Field(
        default_factory=list, max_length=64, description="Event field paths encrypted at rest."
    )

    @model_validator(mode="after")
    def _paths(self) -> Encryption:
        import re

        for path in self.fields:
            if not re.fullmatch(FIELD_PATH_PATTERN, path):
                raise ValueError(f"encryption.fields: {path!r} is not a field path")
        return self


class RateLimit(SpecModel):
    per_second: int | None = Field(default=None, ge=1, le=100000, description="Requests a second.")
    per_minute: int | None = Field(default=None, ge=1, le=6000000, description="Requests a minute.")


class Gateway(SpecModel):
    host: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
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
    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="Secret name.")
    key: str = Field(min_length=1, max_length=253, description="Key within the Secret.")


class Storage(SpecModel):
    mode: StorageMode = Field(
        default=StorageMode.EMBEDDED, description="embedded (SQLite on a PVC), external or managed."
    )
    database_secret_ref: SecretKeyRef | None = Field(
        default=None, description="external only: Secret key holding the PostgreSQL URL."
    )
    size: str = Field(
        default="1Gi",
        pattern=r"^[0-9]+(Mi|Gi|Ti)$",
        description="Volume size (embedded PVC or managed cluster).",
    )

    @model_validator(mode="after")
    def _external_needs_secret(self) -> Storage:
        if (self.mode is StorageMode.EXTERNAL) != (self.database_secret_ref is not None):
            raise ValueError(
                "storage.databaseSecretRef is required for, and only for, mode external"
            )
        return self


class Retention(SpecModel):
    events: Duration = Field(default="90d", max_length=32, description="How long events are kept.")
    violations: Duration = Field(
        default="365d", max_length=32, description="How long violations are kept."
    )


class Webhook(SpecModel):
    url: str = Field(pattern=r"^https?://\S+$", max_length=2048, description="Receiver URL.")
    secret_ref: SecretKeyRef = Field(description="Secret key holding the HMAC signing secret.")
    min_severity: Severity = Field(
        default=Severity.HIGH, description="Lowest severity that is pushed."
    )


class Notifications(SpecModel):
    webhooks: list[Webhook] = Field(
        default_factory=list, max_length=8, description="Signed webhooks for violations and alerts."
    )


class ComplianceTenantSpec(SpecModel):
    display_name: str = Field(min_length=1, max_length=128, description="Name shown to people.")
    plan: Plan = Field(default=Plan.STANDARD, description="free, standard or enterprise.")
    isolation: Isolation = Field(default=Isolation.DEDICATED, description="dedicated or pooled.")
    suspended: bool = Field(default=False, description="Scale scoring to zero and refuse ingest.")
    regulations: list[RegulationRef] = Field(
        default_factory=list, max_length=32, description="RegulationSets applied, with overrides."
    )
    custom_rules: list[Rule] = Field(
        default_factory=list,
        max_length=128,
        description="Tenant-specific rules, same schema as a set's.",
    )
    scoring: Scoring = Field(default_factory=Scoring, description="Scaling and models.")
    encryption: Encryption = Field(default_factory=Encryption, description="Field encryption.")
    gateway: Gateway = Field(default_factory=Gateway, description="Kong routing and limits.")
    storage: Storage = Field(default_factory=Storage, description="Where results live.")
    retention: Retention = Field(default_factory=Retention, description="Data retention.")
    notifications: Notifications = Field(
        default_factory=Notifications, description="Push notifications."
    )

    @model_validator(mode="after")
    def _cross_field(self) -> ComplianceTenantSpec:
        replicas = self.scoring.replicas
        if self.isolation is Isolation.POOLED and replicas is not None:
            raise ValueError(
                "scoring.replicas is not allowed for pooled isolation "
                "(the shared pool scales on its own)"
            )
        if self.storage.mode is StorageMode.EMBEDDED and replicas is not None and replicas.max > 1:
            raise ValueError(
                "embedded storage (SQLite) allows one replica: scoring.replicas.max must be 1"
            )
        names = [r.name for r in self.regulations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"regulation listed twice: {', '.join(duplicates)}")
        rule_ids = [r.id for r in self.custom_rules]
        dup_rules = sorted({n for n in rule_ids if rule_ids.count(n) > 1})
        if dup_rules:
            raise ValueError(f"duplicate custom rule id: {', '.join(dup_rules)}")
        return self


class ComplianceTenant(SpecModel):
    api_version: Literal["compliance.ott.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ComplianceTenant"]
    metadata: ObjectMeta
    spec: ComplianceTenantSpec
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name
