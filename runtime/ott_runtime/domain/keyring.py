"""A tenant's encryption keyring: versioned AES-256 data keys and one HMAC blind-index key.

The operator creates and rotates it (Secret ``tenant-keys``, data key ``keyring.json``);
the runtime reads it to encrypt with the primary key and decrypt with any kept key.
Rotation adds a primary and keeps every older key decrypt-only: a key is never dropped
here, because rows encrypted under it may still exist (``ottc keys rewrap`` moves them).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ott_runtime.domain.contract import KEYRING_FILE

SECRET_DATA_KEY = KEYRING_FILE  # the keyring's key in its Secret, and its file name
KEY_BYTES = 32


class KeyState(StrEnum):
    PRIMARY = "primary"
    DECRYPT_ONLY = "decrypt-only"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if len(raw) != KEY_BYTES:
        raise ValueError(f"key material must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, repr=False)
class DataKey:
    version: int
    created: datetime
    material: bytes

    def __repr__(self) -> str:  # never print key material, not even in a traceback
        return f"DataKey(version={self.version}, created={self.created.isoformat()})"


@dataclass(frozen=True, repr=False)
class KeyRing:
    tenant: str
    primary_version: int
    keys: tuple[DataKey, ...]
    index_key: bytes = field(default=b"")
    last_rotation: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"KeyRing(tenant={self.tenant!r}, primary={self.primary_version}, "
            f"versions={[k.version for k in self.keys]})"
        )

    @classmethod
    def generate(cls, tenant: str, now: datetime | None = None) -> KeyRing:
        now = now or datetime.now(UTC)
        first = DataKey(version=1, created=now, material=os.urandom(KEY_BYTES))
        return cls(
            tenant=tenant,
            primary_version=1,
            keys=(first,),
            index_key=os.urandom(KEY_BYTES),
            last_rotation=now,
        )

    @property
    def primary(self) -> DataKey:
        return self.key(self.primary_version)

    def key(self, version: int) -> DataKey:
        for key in self.keys:
            if key.version == version:
                return key
        raise KeyError(f"tenant {self.tenant!r} has no key version {version}")

    def state(self, version: int) -> KeyState:
        return KeyState.PRIMARY if version == self.primary_version else KeyState.DECRYPT_ONLY

    def rotate(self, now: datetime | None = None) -> KeyRing:
        """A new keyring whose primary is a fresh key; every older key stays for decryption."""
        now = now or datetime.now(UTC)
        version = max(k.version for k in self.keys) + 1
        new_key = DataKey(version=version, created=now, material=os.urandom(KEY_BYTES))
        return replace(self, primary_version=version, keys=(*self.keys, new_key), last_rotation=now)

    def describe(self) -> list[dict[str, Any]]:
        """Versions and states, safe for status and APIs: no material."""
        return [
            {
                "version": k.version,
                "state": self.state(k.version).value,
                "created": k.created.isoformat(),
            }
            for k in self.keys
        ]

    def to_json(self) -> str:
        return json.dumps(
            {
                "tenant": self.tenant,
                "primary": self.primary_version,
                "indexKey": _b64(self.index_key),
                "lastRotation": self.last_rotation.isoformat() if self.last_rotation else None,
                "keys": [
                    {
                        "version": k.version,
                        "created": k.created.isoformat(),
                        "material": _b64(k.material),
                    }
                    for k in self.keys
                ],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> KeyRing:
        try:
            data = json.loads(text)
            keys = tuple(
                DataKey(
                    version=int(k["version"]),
                    created=datetime.fromisoformat(k["created"]),
                    material=_unb64(k["material"]),
                )
                for k in data["keys"]
            )
            last = data.get("lastRotation")
            ring = cls(
                tenant=str(data["tenant"]),
                primary_version=int(data["primary"]),
                keys=keys,
                index_key=_unb64(data["indexKey"]),
                last_rotation=datetime.fromisoformat(last) if last else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            # the message names the problem, never the content
            raise ValueError(f"malformed keyring: {type(exc).__name__}: {exc}") from None
        ring.key(ring.primary_version)
        return ring

    def to_secret_data(self) -> dict[str, str]:
        """``data`` of the Secret (base64 of the JSON, as Kubernetes stores it)."""
        return {SECRET_DATA_KEY: _b64(self.to_json().encode())}

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> KeyRing:
        return cls.from_json(base64.b64decode(data[SECRET_DATA_KEY]))
