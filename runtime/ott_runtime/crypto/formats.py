"""How protected values look at rest, and what their associated data binds them to.

**Format 2 (written now): one envelope per event.** The protected fields leave the event,
which gets a top-level entry instead::

    "ottc:sealed": {"fields": ["viewer.id", "device.ip"], "ciphertext": "<base64url>"}

where the decoded ciphertext is ``format (1 byte) | key version (4, big endian) | nonce (12)
| AES-256-GCM(JSON list of the fields' values, in the listed order) + tag``. The associated
data is the tenant, the header, the listed paths and the event id, so an envelope copied to
another tenant or row, a field list edited, or a byte changed fails the tag check. One
AES-GCM call per event instead of one per field: the per-call cost is most of what sealing
a short value costs. Anything that reads stored events without the key (the dashboard's
region rollup, SQL) sees a protected field as absent, never as ciphertext.

**Format 1 (read, never written): one ciphertext per field.** The value itself is
``ottc:enc:v1:<base64url(format | key version | nonce | ciphertext+tag)>``, its associated
data the tenant, field path, event id and header. Rows written before format 2 still
decrypt; after a key rotation, ``ottc keys rewrap`` rewrites them as format 2 (it rewrites
every row not under the primary key).

Event schemas forbid unknown top-level fields, so a client cannot send ``ottc:sealed``.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ENVELOPE_KEY = "ottc:sealed"
LEGACY_PREFIX = "ottc:enc:v1:"
ENVELOPE_FORMAT = 2
LEGACY_FORMAT = 1
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER = struct.Struct(">BI")  # format, key version
URLSAFE = bytes.maketrans(b"+/", b"-_")  # base64url, as base64.urlsafe_b64encode writes it
ENVELOPE_LABEL = b"ott-compliance/event/v2"
LEGACY_LABEL = b"ott-compliance/field/v1"


class CiphertextError(ValueError):
    """A protected value that cannot be trusted: tampered, swapped, truncated or under a key
    this tenant does not hold. The message names the tenant, field and reason, never data."""

    def __init__(self, tenant: str, field_path: str, reason: str) -> None:
        super().__init__(f"tenant {tenant!r}, field {field_path!r}: {reason}")
        self.tenant = tenant
        self.field_path = field_path
        self.reason = reason


def is_legacy_ciphertext(value: object) -> bool:
    """Whether a stored field value is a format-1 ciphertext."""
    return isinstance(value, str) and value.startswith(LEGACY_PREFIX)


def envelope_aad_prefix(tenant: bytes, header: bytes, paths: Sequence[str]) -> bytes:
    """The associated data up to the event id, which comes last (so the sealing side can
    reuse the prefix for every event with the same fields present)."""
    count = str(len(paths)).encode()
    return b"\x00".join((ENVELOPE_LABEL, tenant, header, count, *map(str.encode, paths), b""))


def legacy_aad(tenant: str, field_path: str, record: str, header: bytes) -> bytes:
    parts = (LEGACY_LABEL, tenant.encode(), field_path.encode(), record.encode(), header)
    return b"\x00".join(parts)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A decoded ciphertext, not yet verified."""

    header: bytes
    key_version: int
    nonce: bytes
    ciphertext: bytes  # with its tag


def decode(token: str, expected_format: int) -> Sealed:
    """Splits base64url ``token`` into its parts; raises ``ValueError`` naming what is
    wrong with it (the caller wraps it with the tenant and field)."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("malformed encoding") from None
    if len(raw) < HEADER.size + NONCE_BYTES + TAG_BYTES:
        raise ValueError("truncated ciphertext")
    header = raw[: HEADER.size]
    fmt, version = HEADER.unpack(header)
    if fmt != expected_format:
        raise ValueError(f"unknown format {fmt}")
    body = raw[HEADER.size :]
    return Sealed(header, version, body[:NONCE_BYTES], body[NONCE_BYTES:])


def envelope_parts(envelope: Any) -> tuple[list[str], str]:
    """The listed paths and the ciphertext of a stored envelope; ``ValueError`` when it
    does not have the shape format 2 writes."""
    if not isinstance(envelope, dict) or set(envelope) != {"fields", "ciphertext"}:
        raise ValueError("malformed envelope")
    paths, token = envelope["fields"], envelope["ciphertext"]
    if (
        not isinstance(paths, list)
        or not paths
        or not all(isinstance(p, str) and p for p in paths)
        or len(set(paths)) != len(paths)
        or not isinstance(token, str)
    ):
        raise ValueError("malformed envelope")
    return paths, token
