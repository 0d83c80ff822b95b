"""Shared pydantic configuration for documents that mirror the CRD schemas.

The CRDs in ``crds/`` are the source of truth; these models must give the same verdict on
every document (``tests/unit/test_crd_schema_agreement.py`` checks both on a corpus).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label: tenant and set names (a tenant's name becomes part of a namespace name)."""
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""RFC 1123 subdomain: Secret names and host names."""
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
"""A key inside a Secret's data, as Kubernetes allows it."""

DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL_PATTERN)]


class SpecModel(BaseModel):
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
