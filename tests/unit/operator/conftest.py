"""Builders are pure: these fixtures build a TenantContext from a spec, with no cluster."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ott_operator.builders.context import TenantContext
from ott_operator.settings import OperatorSettings
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.tenant import ComplianceTenant

RULES_CONFIG: dict[str, Any] = {
    "regulations": [{"name": "gdpr", "version": "2016/679", "rules": ["minor-consent"]}],
    "rules": [{"id": "minor-consent", "when": "event.viewer.age < 16"}],
}
FIXED_NOW = datetime(2026, 1, 1, tzinfo=UTC)
COMPLIANCE_API = "compliance.ott.dev/v1alpha1"
# a one-rule RegulationSet as the cluster (and kopf's index) holds it
GDPR: dict[str, Any] = {
    "apiVersion": COMPLIANCE_API,
    "kind": "RegulationSet",
    "metadata": {"name": "gdpr", "generation": 1},
    "spec": {
        "jurisdiction": "EU",
        "version": "2016/679",
        "rules": [
            {
                "id": "minor-consent",
                "severity": "high",
                "appliesTo": ["playback.start"],
                "when": "event.viewer.age < 16",
                "message": "a minor started playback",
                "reference": "GDPR Art. 8",
            }
        ],
    },
}

ContextFactory = Callable[..., TenantContext]


def tenant_document(name: str = "acme", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name, "uid": "0f1e2d3c-aaaa-bbbb-cccc-000000000001", "generation": 1},
        "spec": {"displayName": "Acme Stream", "regulations": [{"name": "gdpr"}], **spec},
    }


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.generate("acme", now=FIXED_NOW)


@pytest.fixture
def make_context(keyring: KeyRing) -> ContextFactory:
    """``make_context(settings=..., rules=..., **spec)``: a context for tenant ``acme``."""

    def factory(
        *,
        name: str = "acme",
        settings: OperatorSettings | None = None,
        rules: dict[str, Any] | None = None,
        rotation_request: str | None = None,
        **spec: Any,
    ) -> TenantContext:
        return TenantContext(
            tenant=ComplianceTenant.model_validate(tenant_document(name, **spec)),
            settings=settings or OperatorSettings(),
            rules_config=rules if rules is not None else RULES_CONFIG,
            keyring=keyring,
            api_key="ottc_test-key-not-secret",
            rotation_request=rotation_request,
        )

    return factory


@pytest.fixture
def rules_config() -> dict[str, Any]:
    return RULES_CONFIG
