"""Shared pydantic configuration for documents that mirror the CRD schemas.

The CRDs in ``crds/`` are the source of truth; these models must give the same verdict on
every document (``tests/unit/deploy/test_crd_schema_agreement.py`` checks both on a corpus).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label: tenant and set names (a tenant's name becomes part of a namespace name)."""
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""RFC 1123 subdomain: Secret names and host names."""
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
"""A key inside a Secret's data, as Kubernetes allows it."""

DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL_PATTERN)]


class StrictModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are errors, as with
    ``kubectl apply`` (strict field validation). Scalars are strict, as the API server's
    schema is: ``"2"`` is not an integer and ``"true"`` is not a boolean. Enum fields opt
    out (``Field(strict=False)``) so that plain strings from YAML parse into the enums."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


class SpecModel(StrictModel):
    """A StrictModel for Kubernetes documents, where ``null`` means "not set"."""

    @model_validator(mode="before")
    @classmethod
    def _prune_nulls(cls, data: Any) -> Any:
        """``field: null`` means "not set": the API server prunes such fields before defaulting
        (the schemas are not nullable), so ``scoring: null`` gets the default scoring."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def to_document(self) -> dict[str, Any]:
        """The wire form: camelCase keys, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectMeta(BaseModel):
    """The parts of Kubernetes metadata the domain reads; everything else is kept as is."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="DNS label: the tenant's namespace is derived from it.",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None


TENANT_NAMESPACE_PREFIX = "ottc-"
MAX_TENANT_NAME_LENGTH = 63 - len(TENANT_NAMESPACE_PREFIX)


class TenantMeta(ObjectMeta):
    """A tenant's name must leave room for the ``ottc-`` prefix of its namespace."""

    name: str = Field(
        min_length=1,
        max_length=MAX_TENANT_NAME_LENGTH,
        pattern=DNS_LABEL_PATTERN,
        description="DNS label: the tenant's namespace is ottc-<name>.",
    )


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class StatusCondition(SpecModel):
    """One entry of ``status.conditions``, in the standard Kubernetes form."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready.")
    status: ConditionStatus = Field(strict=False, description="Whether the condition holds.")
    reason: str | None = Field(default=None, max_length=1024, description="CamelCase reason.")
    message: str | None = Field(default=None, max_length=32768, description="Details.")
    last_transition_time: str | None = Field(
        default=None, description="RFC 3339 time the status last changed."
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the condition was set for."
    )


def check_unique_condition_types(conditions: list[StatusCondition]) -> list[StatusCondition]:
    """The API server keys ``conditions`` by type (``x-kubernetes-list-type: map``)."""
    types = [c.type for c in conditions]
    repeated = sorted({t for t in types if types.count(t) > 1})
    if repeated:
        raise ValueError(f"condition types must be unique: {', '.join(repeated)} repeated")
    return conditions
