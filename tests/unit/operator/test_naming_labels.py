from __future__ import annotations

from typing import Any

import pytest

from ott_operator import labels, naming
from ott_operator.naming import TenantNames
from ott_operator.settings import OperatorSettings
from ott_runtime.domain.tenant import ComplianceTenant


def _tenant(name: str, isolation: str) -> ComplianceTenant:
    document: dict[str, Any] = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {"displayName": name, "isolation": isolation},
    }
    return ComplianceTenant.model_validate(document)


def test_dedicated_tenant_names() -> None:
    names = TenantNames.of(_tenant("acme", "dedicated"), OperatorSettings())
    assert names.dedicated
    assert names.namespace == "ottc-acme"
    assert (names.config_map, names.keys_secret, names.api_key_secret) == (
        "tenant-config",
        "tenant-keys",
        "tenant-api-key",
    )
    assert names.service == names.deployment == "scoring"
    assert names.consumer == "ottc-acme"
    assert names.key_auth_plugin == "ottc-acme-key-auth"
    assert names.rate_limit_plugin == "ottc-acme-rate-limit"


def test_pooled_tenant_names_carry_the_tenant_in_the_pool_namespace() -> None:
    settings = OperatorSettings(pool_namespace="shared-pool", pool_service="pool-svc")
    names = TenantNames.of(_tenant("beta", "pooled"), settings)
    assert not names.dedicated
    assert names.namespace == "shared-pool"
    assert names.config_map == "beta-config"
    assert names.keys_secret == "beta-keys"
    assert names.api_key_secret == "beta-api-key"
    assert names.service == "pool-svc"


def test_a_name_too_long_for_its_namespace_is_refused() -> None:
    longest = "a" * naming.MAX_TENANT_NAME_LENGTH
    assert len(naming.tenant_namespace(longest)) == 63
    with pytest.raises(ValueError, match="would not be a valid name"):
        naming.tenant_namespace(longest + "b")


def test_labels_come_from_one_place() -> None:
    assert labels.tenant_labels("acme") == {
        "app.kubernetes.io/managed-by": "ott-compliance-operator",
        "app.kubernetes.io/part-of": "ott-compliance",
        "compliance.ott.dev/tenant": "acme",
    }
    assert labels.tenant_labels("acme", "scoring")["app.kubernetes.io/component"] == "scoring"
    assert labels.managed_selector("acme") == (
        "app.kubernetes.io/managed-by=ott-compliance-operator,compliance.ott.dev/tenant=acme"
    )
    assert labels.FIELD_MANAGER == "ott-compliance-operator"
    assert naming.usage_record("acme", "0f1e2d3c-aaaa") == "usage-acme-0f1e2d3c"
