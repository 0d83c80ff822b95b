"""``ott_runtime.auth.authenticate``, the one path every entry point authenticates by:
key lookup, tenant served here, rate limit, metering; its refusals as domain errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ott_runtime.api.ratelimit import RateLimiter
from ott_runtime.auth import (
    BAD_KEY_DETAIL,
    NO_KEY_DETAIL,
    NOT_SERVED_DETAIL,
    RateLimited,
    TenantNotServed,
    Unauthenticated,
    authenticate,
)
from ott_runtime.config import standalone_config
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope

REGULATION = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "ads"},
    "spec": {
        "jurisdiction": "EU",
        "version": "1",
        "rules": [
            {
                "id": "long-ad",
                "severity": "low",
                "appliesTo": ["ad.impression"],
                "when": "event.ad.durationSeconds > 60",
                "message": "m",
                "reference": "r",
            }
        ],
    },
}


def _tenant(name: str, per_second: int) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {
            "displayName": name,
            "regulations": [{"name": "ads"}],
            "gateway": {"rateLimit": {"perSecond": per_second}},
        },
    }


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RuntimeService]:
    config_file = tmp_path / "config.yaml"
    documents = [REGULATION, _tenant("acme", 1000), _tenant("slow", 1)]
    config_file.write_text(yaml.safe_dump_all(documents))
    config = standalone_config([config_file], tmp_path / "state")
    service = RuntimeService(
        config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
    )
    await service.start()
    yield service
    await service.stop()


def _key(service: RuntimeService, tenant: str) -> str:
    return service._api_keys[tenant][0]


async def test_a_valid_key_is_its_tenant_and_the_call_is_metered(
    service: RuntimeService,
) -> None:
    principal = await authenticate(
        service, _key(service, "acme"), metered=True, limiter=RateLimiter()
    )
    assert principal.scope == TenantScope("acme")
    assert principal.runtime is service.tenants.get("acme")
    assert service.meter.pending("acme") == 1


async def test_an_unmetered_call_is_not_counted(service: RuntimeService) -> None:
    await authenticate(service, _key(service, "acme"), metered=False, limiter=RateLimiter())
    assert service.meter.pending("acme") == 0


@pytest.mark.parametrize("key", [None, ""])
async def test_no_key_is_unauthenticated(service: RuntimeService, key: str | None) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(service, key, metered=True, limiter=RateLimiter())
    assert refused.value.detail == NO_KEY_DETAIL


async def test_an_unknown_key_is_unauthenticated(service: RuntimeService) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(service, "ottc_not-a-key", metered=True, limiter=RateLimiter())
    assert refused.value.detail == BAD_KEY_DETAIL
    assert service.meter.pending("acme") == 0


async def test_a_revoked_key_is_unauthenticated(service: RuntimeService) -> None:
    key = "ottc_revoked-key-of-acme"
    await service.store.directory.register_key("acme", key)
    await authenticate(service, key, metered=False, limiter=RateLimiter())
    await service.store.directory.revoke_key(key)
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(service, key, metered=True, limiter=RateLimiter())
    assert refused.value.detail == BAD_KEY_DETAIL


async def test_a_tenant_not_served_here_is_refused_unmetered(service: RuntimeService) -> None:
    # a tenant another replica serves: its key is valid in the shared directory
    await service.store.directory.upsert_tenant("elsewhere", display_name="e", plan="standard")
    await service.store.directory.register_key("elsewhere", "ottc_key-of-the-tenant-elsewhere")
    with pytest.raises(TenantNotServed) as refused:
        await authenticate(
            service, "ottc_key-of-the-tenant-elsewhere", metered=True, limiter=RateLimiter()
        )
    assert refused.value.detail == NOT_SERVED_DETAIL
    assert service.meter.pending("elsewhere") == 0


async def test_past_the_rate_limit_the_call_is_refused_with_the_wait(
    service: RuntimeService,
) -> None:
    limiter, key = RateLimiter(), _key(service, "slow")  # 1 a second, burst 1
    await authenticate(service, key, metered=True, limiter=limiter)
    with pytest.raises(RateLimited) as refused:
        await authenticate(service, key, metered=True, limiter=limiter)
    assert refused.value.scope == TenantScope("slow")
    assert 0 < refused.value.wait <= 1.0
    assert "rate limit is exceeded; retry in" in refused.value.detail
    assert service.meter.pending("slow") == 1  # the refused call is not billed
    # another key's bucket (another tenant) is untouched
    await authenticate(service, _key(service, "acme"), metered=True, limiter=limiter)


async def test_a_scope_found_already_is_not_looked_up_again(service: RuntimeService) -> None:
    key = "ottc_guard-found-key"  # not in the directory: only `found` can authenticate it
    principal = await authenticate(
        service, key, metered=True, limiter=RateLimiter(), found=TenantScope("acme")
    )
    assert principal.scope == TenantScope("acme")
    assert service.meter.pending("acme") == 1


def test_the_module_imports_no_web_framework() -> None:
    code = (
        "import sys, ott_runtime.auth; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'strawberry') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert found.strip() == "[]"
