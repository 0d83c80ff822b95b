"""Where keyrings come from: the mounted ``tenant-keys`` Secret or a file in standalone mode.

Kubernetes updates a mounted Secret by swapping a symlink, so the file's identity (inode,
size, mtime) changes; we compare that signature at most once per ``poll_interval`` and
reload, so a rotation by the operator takes effect without a restart. A keyring that does
not parse (a half-written file) never replaces the one in use: the error is kept and
logged, and the last good keyring keeps serving.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ott_runtime.crypto.fields import FieldCipher
from ott_runtime.domain.keyring import SECRET_DATA_KEY, KeyRing

log = logging.getLogger(__name__)


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()  # follows the ..data symlink of a Secret volume
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def write_keyring(path: Path, ring: KeyRing) -> None:
    """Atomically replace ``path`` (owner-only permissions) so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".keyring-")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(ring.to_json())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class KeyRingFile:
    """One tenant's keyring file (or Secret directory holding ``keyring.json``)."""

    def __init__(self, path: Path, *, tenant: str | None = None, poll_interval: float = 1.0):
        self.path = path / SECRET_DATA_KEY if path.is_dir() else path
        self.expected_tenant = tenant
        self.poll_interval = poll_interval
        self.last_error: str | None = None
        self.reloads = 0
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._signature: tuple[int, int, int] | None = None
        self._cipher: FieldCipher | None = None
        self._load()
        if self._cipher is None:
            raise ValueError(f"keyring {self.path}: {self.last_error}")

    def _load(self) -> None:
        try:
            signature = _signature(self.path)
            ring = KeyRing.from_json(self.path.read_bytes())
            if self.expected_tenant is not None and ring.tenant != self.expected_tenant:
                raise ValueError(
                    f"keyring belongs to tenant {ring.tenant!r}, not {self.expected_tenant!r}"
                )
        except (OSError, ValueError) as error:
            self.last_error = str(error)
            log.error("keyring %s not (re)loaded: %s", self.path, error)
            return
        changed = self._cipher is not None
        self._signature, self._cipher, self.last_error = signature, FieldCipher(ring), None
        if changed:
            self.reloads += 1
            log.info(
                "keyring of %s reloaded: primary version %s", ring.tenant, ring.primary_version
            )

    def cipher(self) -> FieldCipher:
        now = time.monotonic()
        if now - self._checked_at >= self.poll_interval:
            with self._lock:
                self._checked_at = now
                try:
                    changed = _signature(self.path) != self._signature
                except OSError as error:
                    self.last_error, changed = str(error), False
                if changed:
                    self._load()
        assert self._cipher is not None
        return self._cipher

    @property
    def keyring(self) -> KeyRing:
        return self.cipher().keyring


class KeyStore:
    """Keyrings of every tenant this process serves, by tenant name."""

    def __init__(self, files: dict[str, KeyRingFile]) -> None:
        self._files = dict(files)

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        tenants: Iterable[str],
        *,
        create_missing: bool = False,
        poll_interval: float = 1.0,
    ) -> KeyStore:
        """``<dir>/<tenant>/keyring.json`` (Secret volumes) or ``<dir>/<tenant>.json`` (files).

        ``create_missing`` generates a keyring for a tenant that has none (standalone mode)."""
        files: dict[str, KeyRingFile] = {}
        for tenant in tenants:
            candidates = [directory / tenant / SECRET_DATA_KEY, directory / f"{tenant}.json"]
            path = next((p for p in candidates if p.exists()), None)
            if path is None:
                if not create_missing:
                    raise FileNotFoundError(f"no keyring for tenant {tenant!r} in {directory}")
                path = candidates[1]
                write_keyring(path, KeyRing.generate(tenant))
            files[tenant] = KeyRingFile(path, tenant=tenant, poll_interval=poll_interval)
        return cls(files)

    @property
    def tenants(self) -> list[str]:
        return sorted(self._files)

    def put(self, tenant: str, source: KeyRingFile) -> None:
        """Adds or replaces a tenant's keyring (a pooled tenant taken on while serving)."""
        self._files[tenant] = source

    def discard(self, tenant: str) -> None:
        self._files.pop(tenant, None)

    def source(self, tenant: str) -> KeyRingFile:
        try:
            return self._files[tenant]
        except KeyError:
            raise KeyError(f"no keyring for tenant {tenant!r}") from None

    def cipher(self, tenant: str) -> FieldCipher:
        return self.source(tenant).cipher()

    def describe(self, tenant: str) -> dict[str, Any]:
        """Versions, states and reload health: never material."""
        source = self.source(tenant)
        ring = source.keyring
        return {
            "tenant": tenant,
            "activeVersion": ring.primary_version,
            "lastRotation": ring.last_rotation.isoformat() if ring.last_rotation else None,
            "keys": ring.describe(),
            "reloads": source.reloads,
            "lastReloadError": source.last_error,
        }
