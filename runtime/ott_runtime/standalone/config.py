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
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ott_runtime.crypto import KeyStore
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.rules import ResolvedRules
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest.rules import runtime_for_tenant, runtime_from_resolved
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.storage.database import sqlite_url
from ott_runtime.storage.directory import KEY_PREFIX

RULES_FILE = "rules.json"
TENANT_FILE = "tenant.json"
API_KEY_FILE = "key"


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
    state_dir.mkdir(parents=True, exist_ok=True)
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


def cluster_config(environ: dict[str, str] | None = None) -> ServiceConfig:
    env = dict(os.environ if environ is None else environ)
    try:
        config_dir, keys_dir = Path(env["OTTC_CONFIG_DIR"]), Path(env["OTTC_KEYS_DIR"])
        database_url = env["DATABASE_URL"]
    except KeyError as missing:
        raise ValueError(f"in-cluster mode needs the environment variable {missing}") from None
    tenant_dirs = (
        [config_dir]
        if (config_dir / TENANT_FILE).exists()
        else sorted(p for p in config_dir.iterdir() if (p / TENANT_FILE).exists())
    )
    if not tenant_dirs:
        raise ValueError(f"no {TENANT_FILE} in {config_dir} or its subdirectories")
    settings = {}
    for directory in tenant_dirs:
        data = json.loads((directory / TENANT_FILE).read_text())
        settings[data["tenant"]] = (data, directory)
    keys = KeyStore.from_directory(keys_dir, sorted(settings))
    runtimes = [
        runtime_from_resolved(
            name,
            _spec_from_settings(data),
            ResolvedRules.from_config(json.loads((directory / RULES_FILE).read_text())),
            keys,
        )
        for name, (data, directory) in sorted(settings.items())
    ]
    api_keys: dict[str, list[str]] = {}
    api_keys_dir = env.get("OTTC_API_KEYS_DIR")
    for name in settings:
        key_file = Path(api_keys_dir, name, API_KEY_FILE) if api_keys_dir else None
        if key_file is not None and key_file.exists():
            api_keys[name] = [key_file.read_text().strip()]
    return ServiceConfig(database_url, runtimes, keys, api_keys)
