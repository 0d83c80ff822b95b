"""The pure parts of copying usage into status: the URL, the shape check, clear errors."""

from __future__ import annotations

import pytest

from ott_operator.naming import TenantNames
from ott_operator.settings import OperatorSettings
from ott_operator.usage import UsageUnavailable, fetch_usage, usage_status, usage_url
from ott_runtime.domain.tenant import ComplianceTenant

from .conftest import tenant_document

RUNTIME_ANSWER = {
    "tenant": "acme",
    "period": "2026-11",
    "plan": "standard",
    "events": 1200,
    "apiCalls": 31,
    "bytes": 123456,
    "ruleEvaluations": 5000,
    "estimatedCharge": {
        "currency": "EUR",
        "plan": "standard",
        "items": {"base": "99.00", "events": "0.00", "apiCalls": "0.02", "ingest": "0.00"},
        "total": "99.02",
    },
    "hours": [{"hour": "2026-11-26T20:00:00+00:00", "events": 1200}],
}


def _names(isolation: str) -> TenantNames:
    tenant = ComplianceTenant.model_validate(tenant_document("acme", isolation=isolation))
    return TenantNames.of(tenant, OperatorSettings())


def test_the_tenants_own_service_is_asked() -> None:
    settings = OperatorSettings()
    assert usage_url(settings, _names("dedicated")) == "http://scoring.ottc-acme.svc/v1/usage"
    assert usage_url(settings, _names("pooled")) == "http://ottc-pool.ottc-pool.svc/v1/usage"
    custom = OperatorSettings(runtime_url="https://{service}.{namespace}.svc.corp.example:8443/")
    assert usage_url(custom, _names("dedicated")) == (
        "https://scoring.ottc-acme.svc.corp.example:8443/v1/usage"
    )


def test_an_unknown_placeholder_in_the_runtime_url_is_refused() -> None:
    with pytest.raises(ValueError, match=r"only \{service\}, \{namespace\} and \{tenant\}"):
        OperatorSettings(runtime_url="http://{svc}.{namespace}.svc")


def test_status_keeps_the_month_totals_and_the_charge_only() -> None:
    assert usage_status(RUNTIME_ANSWER) == {
        "period": "2026-11",
        "events": 1200,
        "apiCalls": 31,
        "estimatedCharge": RUNTIME_ANSWER["estimatedCharge"],
    }


def test_a_shape_the_crd_would_refuse_is_an_error_not_a_patch() -> None:
    with pytest.raises(UsageUnavailable, match=r"does not fit status\.usage"):
        usage_status({**RUNTIME_ANSWER, "events": -1})
    with pytest.raises(UsageUnavailable, match=r"does not fit status\.usage"):
        usage_status({**RUNTIME_ANSWER, "estimatedCharge": {"currency": "euro"}})


def test_an_unreachable_runtime_is_named_in_the_error() -> None:
    with pytest.raises(UsageUnavailable, match=r"GET http://127\.0\.0\.1:9/v1/usage"):
        fetch_usage("http://127.0.0.1:9/v1/usage", "ottc_key", timeout=1.0)
