"""`ottc serve`'s reloader takes on, updates and drops pooled tenants from the folders the
pool sync writes, without a restart; a tenant missing its keyring waits, the others serve."""

from __future__ import annotations

import json
from pathlib import Path

from ott_runtime.config import cluster_config
from ott_runtime.config.reload import ClusterConfigReloader
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.rules import resolve_rules
from ott_runtime.poolsync.files import Part, PoolFolders, TenantObject
from ott_runtime.service import RuntimeService

REPO = Path(__file__).resolve().parents[4]
_SETS, _TENANTS = load_resources(
    [REPO / "examples" / "regulationsets", REPO / "examples" / "tenants"]
)
RULES = json.dumps(resolve_rules(_TENANTS["tinytoons"].spec, _SETS).to_config())


def _write_tenant(folders: PoolFolders, tenant: str, *, plan: str = "standard") -> str:
    api_key = f"ottc_{tenant}_" + "k" * 30
    ring = KeyRing.generate(tenant)
    folders.write(TenantObject(tenant, Part.KEYS, {"keyring.json": ring.to_json().encode()}))
    folders.write(TenantObject(tenant, Part.API_KEY, {"key": api_key.encode()}))
    settings = {"tenant": tenant, "plan": plan, "isolation": "pooled"}
    folders.write(
        TenantObject(
            tenant,
            Part.CONFIG,
            {"rules.json": RULES.encode(), "tenant.json": json.dumps(settings).encode()},
        )
    )
    return api_key


async def test_reloader_follows_the_folders(tmp_path: Path) -> None:
    folders = PoolFolders(
        tmp_path / "config", tmp_path / "keys", tmp_path / "api-keys", tmp_path / "hooks"
    )
    env = {
        "OTTC_CONFIG_DIR": str(folders.config),
        "OTTC_KEYS_DIR": str(folders.keys),
        "OTTC_API_KEYS_DIR": str(folders.api_keys),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ottc.db'}",
        "OTTC_CONFIG_RELOAD_SECONDS": "1",
    }
    config = cluster_config(env)  # empty folders are fine while reloading
    assert config.runtimes == []
    service = RuntimeService(config.database_url, config.runtimes, config.keys)
    await service.start()
    seen: list[list[str]] = []
    service.tenant_listeners.append(seen.append)
    reloader = ClusterConfigReloader(service, env)
    reloader.prime()
    directory = service.store.directory
    try:
        assert await reloader.reload_once() is False
        # config first, keyring later: the tenant waits for its keyring
        settings = {"tenant": "acme", "plan": "standard", "isolation": "pooled"}
        folders.write(
            TenantObject(
                "acme",
                Part.CONFIG,
                {"rules.json": RULES.encode(), "tenant.json": json.dumps(settings).encode()},
            )
        )
        assert await reloader.reload_once() is False
        assert "no keyring" in reloader.last_errors["acme"]
        acme_key = _write_tenant(folders, "acme")
        beta_key = _write_tenant(folders, "beta")
        assert await reloader.reload_once() is True
        assert service.tenants.names == ["acme", "beta"] == seen[-1]
        assert reloader.last_errors == {}
        assert (await directory.authenticate(acme_key)).tenant_id == "acme"  # type: ignore[union-attr]
        assert (await directory.authenticate(beta_key)).tenant_id == "beta"  # type: ignore[union-attr]
        assert service.keys.cipher("beta").tenant == "beta"

        # a changed plan and API key: swapped in, the old key revoked
        _write_tenant(folders, "acme", plan="enterprise")
        new_key = "ottc_acme_new_" + "n" * 30
        folders.write(TenantObject("acme", Part.API_KEY, {"key": new_key.encode()}))
        assert await reloader.reload_once() is True
        assert service.tenants["acme"].spec.plan.value == "enterprise"
        directory.clear_cache()
        assert await directory.authenticate(acme_key) is None
        assert (await directory.authenticate(new_key)).tenant_id == "acme"  # type: ignore[union-attr]

        # beta's objects go: dropped, acme keeps serving
        folders.remove(Part.CONFIG, "beta")
        folders.remove(Part.KEYS, "beta")
        assert await reloader.reload_once() is True
        assert service.tenants.names == ["acme"] == seen[-1]
        assert service.tenants.get("beta") is None
        assert "beta" not in service.keys.tenants
        assert await reloader.reload_once() is False
    finally:
        await service.stop()
