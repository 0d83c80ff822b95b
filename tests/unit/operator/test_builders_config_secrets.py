from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from ott_operator.builders.config import config_digest, config_map
from ott_operator.builders.context import TenantContext
from ott_operator.builders.secrets import api_key_secret, generate_api_key, keys_secret
from ott_runtime.domain.keyring import KeyRing

ContextFactory = Callable[..., TenantContext]


def test_config_map_holds_the_resolved_rules_and_the_runtime_settings(
    make_context: ContextFactory, rules_config: dict[str, Any]
) -> None:
    ctx = make_context(
        encryption={"fields": ["viewer.id"]}, scoring={"riskThreshold": 0.6}, plan="enterprise"
    )
    cm = config_map(ctx)
    assert cm["metadata"]["name"] == "tenant-config"
    assert cm["metadata"]["namespace"] == "ottc-acme"
    assert json.loads(cm["data"]["rules.json"]) == rules_config
    tenant = json.loads(cm["data"]["tenant.json"])
    assert tenant["tenant"] == "acme"
    assert tenant["plan"] == "enterprise"
    assert tenant["encryption"] == {"fields": ["viewer.id"]}
    assert tenant["scoring"]["riskThreshold"] == 0.6
    assert tenant["storage"] == "embedded"


def test_digest_changes_with_rules_and_runtime_settings_only(
    make_context: ContextFactory, rules_config: dict[str, Any]
) -> None:
    base = config_digest(make_context())
    assert base == config_digest(make_context())  # deterministic
    changed_rules = {**rules_config, "rules": []}
    assert config_digest(make_context(rules=changed_rules)) != base
    assert config_digest(make_context(scoring={"riskThreshold": 0.5})) != base
    # not read by the runtime: no new digest
    assert config_digest(make_context(displayName="Renamed")) == base
    assert config_digest(make_context(gateway={"rateLimit": {"perSecond": 9}})) == base
    assert config_digest(make_context(encryption={"rotationInterval": "1h"})) == base


def test_keys_secret_carries_the_keyring_and_the_served_request(
    make_context: ContextFactory, keyring: KeyRing
) -> None:
    secret = keys_secret(make_context(rotation_request="r-1"))
    assert secret["metadata"]["name"] == "tenant-keys"
    assert secret["type"] == "Opaque"
    assert KeyRing.from_secret_data(secret["data"]).primary.material == keyring.primary.material
    assert secret["metadata"]["annotations"] == {"compliance.ott.dev/rotation-request": "r-1"}
    assert "annotations" not in keys_secret(make_context())["metadata"]


def test_api_key_secret_is_a_kong_key_auth_credential(make_context: ContextFactory) -> None:
    secret = api_key_secret(make_context())
    assert secret["metadata"]["name"] == "tenant-api-key"
    assert secret["metadata"]["labels"]["konghq.com/credential"] == "key-auth"
    assert secret["metadata"]["labels"]["compliance.ott.dev/tenant"] == "acme"
    assert base64.b64decode(secret["data"]["key"]).decode() == "ottc_test-key-not-secret"


def test_generated_api_keys_are_long_and_distinct() -> None:
    first, second = generate_api_key(), generate_api_key()
    assert first != second
    assert first.startswith("ottc_")
    assert len(first) >= 40


def test_pooled_tenant_data_lives_in_the_pool_namespace(make_context: ContextFactory) -> None:
    ctx = make_context(isolation="pooled")
    for obj, name in (
        (config_map(ctx), "acme-config"),
        (keys_secret(ctx), "acme-keys"),
        (api_key_secret(ctx), "acme-api-key"),
    ):
        assert obj["metadata"]["namespace"] == "ottc-pool"
        assert obj["metadata"]["name"] == name
