"""Turns the operator's per-tenant objects into the folders `ottc serve` reads.

Layout (the cluster mode of ott_runtime.config.loading)::

    <config>/<tenant>/rules.json, tenant.json     from ConfigMap <tenant>-config
    <keys>/<tenant>/keyring.json                  from Secret <tenant>-keys
    <api-keys>/<tenant>/key                       from Secret <tenant>-api-key
    <webhooks>/<secret>/<key>                     webhook signing secrets (see sync.py)

Every file is written to a temporary name in its folder and renamed over the old one, so a
reader never sees half a file; unchanged files are not rewritten (their mtime stays, so the
runtime does not reload for nothing). ``tenant.json`` is written last: the runtime takes a
tenant on once that file exists, and by then its rules are there. A tenant's folder is
renamed away before it is deleted, so it vanishes in one step.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ott_runtime.domain.contract import (
    API_KEY_FILE,
    API_KEY_SUFFIX,
    CONFIG_SUFFIX,
    FIELD_MANAGER,
    KEYRING_FILE,
    KEYS_SUFFIX,
    MANAGED_BY,
    RULES_FILE,
    TENANT_FILE,
    TENANT_LABEL,
)

# A Kubernetes name segment (DNS-1123 label): nothing that could leave its folder.
_SAFE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SAFE_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


class Part(Enum):
    CONFIG = "config"
    KEYS = "keys"
    API_KEY = "api-key"


# what each object must hold, in the order it is written (tenant.json last)
_FILES = {
    Part.CONFIG: (RULES_FILE, TENANT_FILE),
    Part.KEYS: (KEYRING_FILE,),
    Part.API_KEY: (API_KEY_FILE,),
}
_SUFFIXES = {
    Part.CONFIG: CONFIG_SUFFIX,
    Part.KEYS: KEYS_SUFFIX,
    Part.API_KEY: API_KEY_SUFFIX,
}


class InvalidObject(ValueError):
    """An object that carries the operator's labels but not the shape the operator writes."""


@dataclass(frozen=True)
class TenantObject:
    tenant: str
    part: Part
    files: dict[str, bytes]


def is_safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name))


def object_part(kind: str, name: str, tenant: str) -> Part | None:
    """Which of a tenant's objects ``kind``/``name`` is, or None if it is none of them."""
    for part, suffix in _SUFFIXES.items():
        if name == tenant + suffix and (kind == "ConfigMap") == (part is Part.CONFIG):
            return part
    return None


def classify(
    kind: str, name: str, object_labels: Mapping[str, str] | None, data: Mapping[str, str] | None
) -> TenantObject | None:
    """The tenant object a ConfigMap or Secret is (Secret data base64-encoded, as the API
    returns it), None when it is not one; InvalidObject when it is one but malformed."""
    tenant = (object_labels or {}).get(TENANT_LABEL, "")
    if (object_labels or {}).get(MANAGED_BY) != FIELD_MANAGER:
        return None
    part = object_part(kind, name, tenant)
    if part is None:
        return None
    if not is_safe_name(tenant):
        raise InvalidObject(f"{kind} {name}: tenant label {tenant!r} is not a valid name")
    data = data or {}
    missing = [key for key in _FILES[part] if key not in data]
    if missing:
        raise InvalidObject(f"{kind} {name}: missing {', '.join(missing)}")
    files = {}
    for key in _FILES[part]:
        if kind == "Secret":
            try:
                files[key] = base64.b64decode(data[key], validate=True)
            except (binascii.Error, ValueError):
                raise InvalidObject(f"{kind} {name}: {key} is not base64") from None
        else:
            files[key] = data[key].encode()
    return TenantObject(tenant, part, files)


def write_atomically(path: Path, content: bytes, mode: int = 0o600) -> bool:
    """Writes ``content`` to ``path`` via a temporary file and a rename; False if the file
    already held exactly that (left untouched)."""
    try:
        if path.read_bytes() == content:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def remove_folder(folder: Path) -> bool:
    """Renames the folder away (one step for readers), then deletes it; False if absent."""
    if not folder.is_dir():
        return False
    doomed = folder.with_name(f".removed-{folder.name}-{os.getpid()}-{id(folder)}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return True


@dataclass(frozen=True)
class PoolFolders:
    config: Path
    keys: Path
    api_keys: Path
    webhooks: Path

    def _root(self, part: Part) -> Path:
        return {Part.CONFIG: self.config, Part.KEYS: self.keys, Part.API_KEY: self.api_keys}[part]

    def folder(self, part: Part, tenant: str) -> Path:
        if not is_safe_name(tenant):
            raise InvalidObject(f"tenant name {tenant!r} is not a valid name")
        return self._root(part) / tenant

    def write(self, item: TenantObject) -> bool:
        """Brings the tenant's folder for this object up to date; True if anything changed."""
        folder = self.folder(item.part, item.tenant)
        changed = False
        for key in _FILES[item.part]:  # tenant.json last
            changed |= write_atomically(folder / key, item.files[key])
        return changed

    def remove(self, part: Part, tenant: str) -> bool:
        if part is Part.CONFIG:  # the runtime drops the tenant once tenant.json is gone
            (self.folder(part, tenant) / TENANT_FILE).unlink(missing_ok=True)
        return remove_folder(self.folder(part, tenant))

    def tenants(self, part: Part) -> set[str]:
        root = self._root(part)
        if not root.is_dir():
            return set()
        return {p.name for p in root.iterdir() if p.is_dir() and is_safe_name(p.name)}

    def prune(self, part: Part, keep: Iterable[str]) -> set[str]:
        """Removes the folders of tenants not in ``keep`` (after a full list); returns them."""
        gone = self.tenants(part) - set(keep)
        for tenant in gone:
            self.remove(part, tenant)
        return gone

    def webhook_refs(self, tenant: str) -> set[tuple[str, str]]:
        """(secret name, key) of each webhook in the tenant's written tenant.json."""
        try:
            settings = json.loads((self.folder(Part.CONFIG, tenant) / TENANT_FILE).read_bytes())
        except (OSError, ValueError):
            return set()
        webhooks = (settings.get("notifications") or {}).get("webhooks") or []
        refs = set()
        for webhook in webhooks:
            ref = webhook.get("secretRef") or {}
            name, key = ref.get("name", ""), ref.get("key", "")
            if is_safe_name(name) and _SAFE_KEY.match(key) and not key.startswith("."):
                refs.add((name, key))
        return refs

    def write_webhook_secret(self, name: str, key: str, value: bytes) -> bool:
        if not is_safe_name(name) or not _SAFE_KEY.match(key) or key.startswith("."):
            raise InvalidObject(f"webhook secret {name}/{key}: not a valid name")
        return write_atomically(self.webhooks / name / key, value)

    def prune_webhooks(self, keep: set[tuple[str, str]]) -> None:
        """Removes signing secrets no tenant refers to any more."""
        if not self.webhooks.is_dir():
            return
        for folder in self.webhooks.iterdir():
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            wanted = {key for name, key in keep if name == folder.name}
            if not wanted:
                remove_folder(folder)
                continue
            for file in folder.iterdir():
                if file.name not in wanted and not file.name.startswith("."):
                    file.unlink(missing_ok=True)
