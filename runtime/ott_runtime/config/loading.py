"""Where a runtime process gets its tenants from.

- Standalone (``ottc serve --config examples/``): RegulationSet and ComplianceTenant YAML
  files, no cluster. Keyrings and demo API keys live in a state directory and are made on
  first start (owner-only files), so restarts keep decrypting what was stored.
- In a cluster (the operator's pod): ``OTTC_CONFIG_DIR`` holds the ConfigMap
  ``tenant-config`` (``rules.json``: resolved rules, ``tenant.json``: runtime settings),
  one directory per tenant when pooled; ``OTTC_KEYS_DIR/<tenant>/keyring.json`` the keyrings;
  ``OTTC_API_KEYS_DIR/<tenant>/key`` the API keys; ``DATABASE_URL`` the database.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ott_runtime.crypto import KeyStore
from ott_runtime.domain.contract import API_KEY_FILE, RULES_FILE, TENANT_FILE
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.keyring import SECRET_DATA_KEY
from ott_runtime.domain.rules import ResolvedRules
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest.rules import runtime_for_tenant, runtime_from_resolved
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.storage.database import sqlite_url
from ott_runtime.storage.directory import KEY_PREFIX

log = logging.getLogger(__name__)


@dataclass
class ServiceConfig:
    database_url: str
    runtimes: list[TenantRuntime]
    keys: KeyStore
    api_keys: dict[str, list[str]]


def _private_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)


def private_state_dir(state_dir: Path) -> None:
    """Makes ``state_dir`` owner-only (0700): it holds the database, the keyrings and the
    API keys. A directory others may write to (sticky, like /tmp) is left as it is."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = state_dir.stat().st_mode
    if mode & stat.S_ISVTX:
        log.warning("state dir %s is a shared directory; its mode stays %o", state_dir, mode)
    elif mode & 0o077:
        state_dir.chmod(0o700)


def demo_api_keys(state_dir: Path, tenants: Iterable[str]) -> dict[str, str]:
    """One API key per tenant, made once and kept in ``state_dir/api-keys.json``."""
    path = state_dir / "api-keys.json"
    keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [t for t in tenants if t not in keys]
    for tenant in missing:
        keys[tenant] = f"{KEY_PREFIX}{tenant.replace('-', '')[:12]}_{secrets.token_urlsafe(24)}"
    if missing or not path.exists():
        _private_json(path, keys)
    return keys


def standalone_config(
    config_paths: Iterable[Path], state_dir: Path, database_url: str | None = None
) -> ServiceConfig:
    """Tenants from YAML files; raises DocumentErrors, MissingRegulationSets or
    RuleCompileError naming what is wrong."""
    sets, tenants = load_resources(config_paths)
    if not tenants:
        raise ValueError("no ComplianceTenant found in the configuration files")
    private_state_dir(state_dir)
    keys = KeyStore.from_directory(state_dir / "keys", sorted(tenants), create_missing=True)
    runtimes = [runtime_for_tenant(tenants[name], sets, keys) for name in sorted(tenants)]
    api_keys = demo_api_keys(state_dir, sorted(tenants))
    return ServiceConfig(
        database_url=database_url or sqlite_url(state_dir / "ottc.db"),
        runtimes=runtimes,
        keys=keys,
        api_keys={tenant: [key] for tenant, key in api_keys.items()},
    )


def _spec_from_settings(settings: dict[str, Any]) -> ComplianceTenantSpec:
    """The parts of a tenant spec the runtime uses, from the operator's ``tenant.json``."""
    document: dict[str, Any] = {
        "displayName": settings.get("displayName") or settings["tenant"],
        "plan": settings.get("plan", "standard"),
        "isolation": settings.get("isolation", "dedicated"),
        "suspended": settings.get("suspended", False),
        "encryption": {"fields": settings.get("encryption", {}).get("fields", [])},
    }
    for key in ("retention", "notifications"):
        if key in settings:
            document[key] = settings[key]
    if "scoring" in settings:
        document["scoring"] = {
            k: v for k, v in settings["scoring"].items() if k in ("riskThreshold", "models")
        }
    return ComplianceTenantSpec.model_validate(document)


RELOAD_ENV = "OTTC_CONFIG_RELOAD_SECONDS"


def tenant_dirs(config_dir: Path) -> dict[str, tuple[dict[str, Any], Path]]:
    """The runtime settings (``tenant.json``) and folder of each tenant under ``config_dir``
    (the folder itself when dedicated, one subfolder per tenant when pooled)."""
    directories = (
        [config_dir]
        if (config_dir / TENANT_FILE).exists()
        else sorted(p for p in config_dir.iterdir() if (p / TENANT_FILE).exists())
    )
    settings = {}
    for directory in directories:
        data = json.loads((directory / TENANT_FILE).read_text())
        settings[data["tenant"]] = (data, directory)
    return settings


def tenant_runtime(
    name: str, data: dict[str, Any], directory: Path, keys: KeyStore
) -> TenantRuntime:
    return runtime_from_resolved(
        name,
        _spec_from_settings(data),
        ResolvedRules.from_config(json.loads((directory / RULES_FILE).read_text())),
        keys,
    )


def read_api_key(api_keys_dir: str | None, tenant: str) -> str | None:
    key_file = Path(api_keys_dir, tenant, API_KEY_FILE) if api_keys_dir else None
    if key_file is not None and key_file.exists():
        return key_file.read_text().strip() or None
    return None


def has_keyring(keys_dir: Path, tenant: str) -> bool:
    return (keys_dir / tenant / SECRET_DATA_KEY).exists() or (keys_dir / f"{tenant}.json").exists()


def cluster_config(environ: dict[str, str] | None = None) -> ServiceConfig:
    """With ``OTTC_CONFIG_RELOAD_SECONDS`` (the pool, filled by ``ottc pool-sync``) the
    folders may start empty and a tenant whose keyring is not there yet is left for the
    reloader (ott_runtime.config.reload) to take on later."""
    env = dict(os.environ if environ is None else environ)
    try:
        config_dir, keys_dir = Path(env["OTTC_CONFIG_DIR"]), Path(env["OTTC_KEYS_DIR"])
        database_url = env["DATABASE_URL"]
    except KeyError as missing:
        raise ValueError(f"in-cluster mode needs the environment variable {missing}") from None
    reloading = bool(env.get(RELOAD_ENV))
    if reloading:
        config_dir.mkdir(parents=True, exist_ok=True)
    settings = tenant_dirs(config_dir)
    if reloading:
        settings = {name: v for name, v in settings.items() if has_keyring(keys_dir, name)}
    elif not settings:
        raise ValueError(f"no {TENANT_FILE} in {config_dir} or its subdirectories")
    keys = KeyStore.from_directory(keys_dir, sorted(settings))
    runtimes = [
        tenant_runtime(name, data, directory, keys)
        for name, (data, directory) in sorted(settings.items())
    ]
    api_keys: dict[str, list[str]] = {}
    for name in settings:
        api_key = read_api_key(env.get("OTTC_API_KEYS_DIR"), name)
        if api_key is not None:
            api_keys[name] = [api_key]
    return ServiceConfig(database_url, runtimes, keys, api_keys)
