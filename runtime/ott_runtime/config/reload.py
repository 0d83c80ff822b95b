"""Takes on, updates and drops pooled tenants while serving, from the cluster-mode folders
(``OTTC_CONFIG_RELOAD_SECONDS`` seconds apart; `ottc pool-sync` fills the folders).

Each round compares a signature of every tenant's files (inode, size, mtime: the sync
replaces files by rename, so any change shows) with the last one. A new or changed tenant is
read again and swapped in (its windows are rebuilt from storage before its next batch); a
tenant whose ``tenant.json`` went is dropped (its key then gets 403); a replaced API key
is revoked. A tenant that cannot
be read yet (keyring not synced, half its objects there) is retried next round: the others
keep serving. A changed keyring alone needs nothing here: KeyRingFile reloads it itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from ott_runtime.config.loading import (
    has_keyring,
    read_api_key,
    tenant_dirs,
    tenant_runtime,
)
from ott_runtime.crypto.sources import KeyRingFile
from ott_runtime.domain.contract import API_KEY_FILE, RULES_FILE, TENANT_FILE
from ott_runtime.domain.keyring import SECRET_DATA_KEY
from ott_runtime.service import RuntimeService

log = logging.getLogger(__name__)
Signature = tuple[tuple[int, int, int] | None, ...]


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class ClusterConfigReloader:
    def __init__(self, service: RuntimeService, environ: dict[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        self.service = service
        self.config_dir = Path(env["OTTC_CONFIG_DIR"])
        self.keys_dir = Path(env["OTTC_KEYS_DIR"])
        self.api_keys_dir = env.get("OTTC_API_KEYS_DIR")
        self.interval = float(env.get("OTTC_CONFIG_RELOAD_SECONDS") or 2.0)
        self._signatures: dict[str, Signature] = {}
        self._api_keys: dict[str, str | None] = {}
        self.last_errors: dict[str, str] = {}

    def _signature(self, tenant: str, directory: Path) -> Signature:
        files = [directory / TENANT_FILE, directory / RULES_FILE]
        if self.api_keys_dir:
            files.append(Path(self.api_keys_dir, tenant, API_KEY_FILE))
        files.append(self.keys_dir / tenant / SECRET_DATA_KEY)  # present or not
        return tuple(_stat(path) for path in files)

    def prime(self) -> None:
        """Remembers what the service was started with, so the first round changes nothing."""
        for name, (_, directory) in tenant_dirs(self.config_dir).items():
            if self.service.tenants.get(name) is not None:
                self._signatures[name] = self._signature(name, directory)
                self._api_keys[name] = read_api_key(self.api_keys_dir, name)

    async def reload_once(self) -> bool:
        """One round; True if the set of served tenants or one of them changed."""
        found = tenant_dirs(self.config_dir) if self.config_dir.is_dir() else {}
        changed = False
        for name in sorted(set(self._signatures) - set(found)):
            await self._drop(name)
            changed = True
        for name, (data, directory) in sorted(found.items()):
            signature = self._signature(name, directory)
            if self._signatures.get(name) == signature:
                continue
            try:
                await self._take_on(name, data, directory)
            except Exception as error:  # one bad tenant must not stop the others
                if self.last_errors.get(name) != str(error):
                    log.error("tenant %s not (re)loaded: %s", name, error)
                self.last_errors[name] = str(error)
                continue
            self.last_errors.pop(name, None)
            self._signatures[name] = signature
            changed = True
        if changed:
            names = self.service.tenants.names
            for listener in self.service.tenant_listeners:
                listener(names)
        return changed

    async def _take_on(self, name: str, data: dict[str, object], directory: Path) -> None:
        if not has_keyring(self.keys_dir, name):
            raise FileNotFoundError(f"no keyring for tenant {name!r} in {self.keys_dir} yet")
        keys = self.service.keys
        if name not in keys.tenants:
            keys.put(name, KeyRingFile(self.keys_dir / name, tenant=name))
        runtime = tenant_runtime(name, dict(data), directory, keys)
        if runtime.spec.plan.value not in self.service.prices.plans:
            raise ValueError(f"plan {runtime.spec.plan} has no price")
        directory_store = self.service.store.directory
        await directory_store.upsert_tenant(
            name, display_name=runtime.spec.display_name, plan=runtime.spec.plan.value
        )
        api_key = read_api_key(self.api_keys_dir, name)
        previous = self._api_keys.get(name)
        if api_key is not None:
            await directory_store.register_key(name, api_key)
        if previous is not None and previous != api_key:
            await directory_store.revoke_key(previous)
        self._api_keys[name] = api_key
        runtime.windows_stale = True  # replayed from storage before its next batch
        old = self.service.tenants.get(name)
        self.service.tenants.replace(runtime)
        log.info("tenant %s %s", name, "updated" if old is not None else "taken on")

    async def _drop(self, name: str) -> None:
        self.service.tenants.remove(name)
        self.service.keys.discard(name)
        # not revoked: its key now gets 403 here, and a tenant whose objects come back (a
        # restored backup) keeps working
        self._api_keys.pop(name, None)
        self._signatures.pop(name, None)
        self.last_errors.pop(name, None)
        log.info("tenant %s dropped (its configuration is gone)", name)

    async def run(self) -> None:
        self.prime()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.reload_once()
            except Exception:  # keep serving what we have; the next round retries
                log.exception("configuration reload failed")


def enable_reload(service: RuntimeService, environ: dict[str, str] | None = None) -> None:
    """Runs a ClusterConfigReloader with the service (started and stopped with it)."""
    reloader = ClusterConfigReloader(service, environ)

    async def config_reload(_: RuntimeService) -> None:
        await reloader.run()

    service.background.append(config_reload)
