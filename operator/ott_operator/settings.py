"""Operator settings: what the platform team chooses once for every tenant (Helm values).

Loaded from a YAML file (``ottc operator --settings FILE``, written by the chart); every
field has a default so the operator also runs with no file at all.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ott_runtime import __version__
from ott_runtime.domain.durations import Duration, parse_duration
from ott_runtime.domain.tenant import Plan


class GatewayMode(StrEnum):
    KONG_INGRESS = "kong-ingress"
    GATEWAY_API = "gateway-api"


class SettingsModel(BaseModel):
    """camelCase keys as in Helm values; unknown keys are errors (a typo must not be ignored).
    Not strict: Helm renders numbers and enums as strings now and then."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ComputeResources(SettingsModel):
    """Requests and limits of one container (Kubernetes quantities)."""

    cpu_request: str = "100m"
    memory_request: str = "256Mi"
    cpu_limit: str = "500m"
    memory_limit: str = "512Mi"


class Quota(SettingsModel):
    """ResourceQuota of a dedicated tenant's namespace."""

    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    pods: int = Field(ge=1)
    persistent_volume_claims: int = Field(ge=0)
    requests_storage: str


class GatewayLimits(SettingsModel):
    per_second: int = Field(ge=1)
    per_minute: int = Field(ge=1)


class PlanProfile(SettingsModel):
    quota: Quota
    scoring_resources: ComputeResources
    replicas_min: int = Field(ge=1, le=100)
    replicas_max: int = Field(ge=1, le=100)
    rate_limit: GatewayLimits
    database_instances: int = Field(ge=1, le=5, description="CloudNativePG instances (managed).")

    @model_validator(mode="after")
    def _ordered(self) -> PlanProfile:
        if self.replicas_min > self.replicas_max:
            raise ValueError("replicasMin must be <= replicasMax")
        return self


def _default_plans() -> dict[Plan, PlanProfile]:
    return {
        Plan.FREE: PlanProfile(
            quota=Quota(
                requests_cpu="1",
                requests_memory="2Gi",
                limits_cpu="2",
                limits_memory="4Gi",
                pods=10,
                persistent_volume_claims=2,
                requests_storage="5Gi",
            ),
            scoring_resources=ComputeResources(),
            replicas_min=1,
            replicas_max=1,
            rate_limit=GatewayLimits(per_second=5, per_minute=100),
            database_instances=1,
        ),
        Plan.STANDARD: PlanProfile(
            quota=Quota(
                requests_cpu="4",
                requests_memory="8Gi",
                limits_cpu="8",
                limits_memory="16Gi",
                pods=30,
                persistent_volume_claims=4,
                requests_storage="50Gi",
            ),
            scoring_resources=ComputeResources(
                cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"
            ),
            replicas_min=1,
            replicas_max=3,
            rate_limit=GatewayLimits(per_second=50, per_minute=2000),
            database_instances=2,
        ),
        Plan.ENTERPRISE: PlanProfile(
            quota=Quota(
                requests_cpu="16",
                requests_memory="32Gi",
                limits_cpu="32",
                limits_memory="64Gi",
                pods=100,
                persistent_volume_claims=10,
                requests_storage="500Gi",
            ),
            scoring_resources=ComputeResources(
                cpu_request="500m", memory_request="1Gi", cpu_limit="2", memory_limit="2Gi"
            ),
            replicas_min=2,
            replicas_max=10,
            rate_limit=GatewayLimits(per_second=500, per_minute=20000),
            database_instances=3,
        ),
    }


class Tracing(SettingsModel):
    """Where tenant runtimes send traces (OTLP); the chart copies its ``tracing`` values here."""

    endpoint: str = Field(
        default="",
        pattern=r"^(https?://\S+)?$",
        description="OTLP endpoint, e.g. http://jaeger-collector.observability:4318; empty: off.",
    )
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    sampler_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class OperatorSettings(SettingsModel):
    runtime_image: str = Field(
        default=f"ott-compliance/ottc:{__version__}",
        min_length=1,
        description="Image of the scoring Deployment and the retrain CronJob.",
    )
    image_pull_policy: str = Field(default="IfNotPresent", pattern="^(Always|IfNotPresent|Never)$")
    gateway_mode: GatewayMode = GatewayMode.KONG_INGRESS
    gateway_namespace: str = Field(default="kong", description="Where the gateway's pods run.")
    gateway_name: str = Field(default="kong", description="Gateway (gateway-api mode) to attach.")
    ingress_class: str = "kong"
    pool_namespace: str = Field(default="ottc-pool", description="Namespace of the shared pool.")
    pool_service: str = Field(default="ottc-pool", description="Service (and Deployment) of it.")
    operator_namespace: str = Field(
        default="ott-compliance-system", description="Where final usage records are kept."
    )
    extra_ingress_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces (e.g. monitoring) allowed into tenant namespaces.",
    )
    cnpg_operator_namespace: str = Field(
        default="cnpg-system", description="Allowed in when storage is managed (it runs the DB)."
    )
    storage_class: str | None = None
    mesh: bool = Field(default=False, description="istio-injection and STRICT mTLS per tenant.")
    drift_interval: Duration = Field(default="60s", description="How often owned objects re-apply.")
    rotation_check_interval: Duration = Field(
        default="5m", description="How often key rotation deadlines are checked."
    )
    missing_set_retry: Duration = Field(
        default="30s", description="Retry delay while a referenced RegulationSet is missing."
    )
    peering_lifetime: Duration = Field(
        default="60s",
        description="How long a silent replica counts as alive in kopf peering: after a crash, "
        "the others wait this long before taking over.",
    )
    currency: str = "EUR"
    runtime_url: str = Field(
        default="http://{service}.{namespace}.svc",
        pattern=r"^https?://\S+$",
        description="How the operator reaches a tenant's runtime, to read its usage; "
        "{service}, {namespace} and {tenant} are filled in.",
    )
    usage_interval: Duration = Field(
        default="5m", description="How often status.usage is refreshed from the runtime."
    )
    usage_timeout: Duration = Field(default="5s", description="Wait for a runtime's answer.")
    tracing: Tracing = Field(default_factory=Tracing)
    plans: dict[Plan, PlanProfile] = Field(default_factory=_default_plans)

    @field_validator("runtime_url")
    @classmethod
    def _known_placeholders(cls, url: str) -> str:
        try:
            url.format(service="s", namespace="n", tenant="t")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"runtimeUrl {url!r}: only {{service}}, {{namespace}} and {{tenant}} are "
                f"filled in ({exc!r})"
            ) from None
        return url

    @model_validator(mode="after")
    def _every_plan(self) -> OperatorSettings:
        missing = sorted(p.value for p in Plan if p not in self.plans)
        if missing:
            raise ValueError(f"plans: no profile for {', '.join(missing)}")
        return self

    def plan(self, plan: Plan) -> PlanProfile:
        return self.plans[plan]

    @property
    def drift_seconds(self) -> float:
        return _seconds(self.drift_interval)

    @property
    def rotation_check_seconds(self) -> float:
        return _seconds(self.rotation_check_interval)

    @property
    def peering_lifetime_seconds(self) -> int:
        return max(1, int(_seconds(self.peering_lifetime)))

    @property
    def missing_set_retry_seconds(self) -> float:
        return _seconds(self.missing_set_retry)

    @property
    def usage_seconds(self) -> float:
        return _seconds(self.usage_interval)

    @property
    def usage_timeout_seconds(self) -> float:
        return _seconds(self.usage_timeout)

    @classmethod
    def from_file(cls, path: Path) -> OperatorSettings:
        """Read settings YAML; a bad file is a clear error naming the file and the field."""
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read operator settings {path}: {exc}") from exc
        if not isinstance(document, dict):
            raise ValueError(f"operator settings {path}: expected a mapping at the top")
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise ValueError(f"invalid operator settings {path}:\n{exc}") from exc


def _seconds(text: str) -> float:
    delta: timedelta = parse_duration(text)
    return delta.total_seconds()
