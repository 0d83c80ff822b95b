"""AES-256-GCM field encryption with the key version inside the ciphertext.

A protected field's value becomes the string ``ottc:enc:v1:<base64url>`` where the decoded
bytes are ``format (1 byte) | key version (4 bytes, big endian) | nonce (12) | ciphertext+tag``.
The associated data binds the ciphertext to its tenant, its field path, its record (the
event id) and its header, so a ciphertext copied to another tenant, another field, another
row, or edited in place fails the GCM tag check: it is reported as a
:class:`CiphertextError` and never decrypted.

Values are JSON-encoded before encryption so numbers and booleans come back as they went in.
Blind indexes (HMAC-SHA256 with the keyring's index key, same tenant + path binding) let the
API filter on equality of an encrypted field without decrypting every row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ott_runtime.domain.keyring import KeyRing

PREFIX = "ottc:enc:v1:"
_PREFIX_BYTES = PREFIX.encode("ascii")
_URLSAFE = bytes.maketrans(b"+/", b"-_")  # base64url, as base64.urlsafe_b64encode writes it
FORMAT_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = struct.Struct(">BI")
_AAD_LABEL = b"ott-compliance/field/v1"
_INDEX_LABEL = b"ott-compliance/blind-index/v1"
BLIND_INDEX_BYTES = 16  # 128 bits: collisions are negligible, rows stay small


class CiphertextError(ValueError):
    """A protected value that cannot be trusted: tampered, swapped, truncated or under a key
    this tenant does not hold. The message names the tenant, field and reason, never data."""

    def __init__(self, tenant: str, field_path: str, reason: str) -> None:
        super().__init__(f"tenant {tenant!r}, field {field_path!r}: {reason}")
        self.tenant = tenant
        self.field_path = field_path
        self.reason = reason


def is_ciphertext(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(tenant: str, field_path: str, record: str, header: bytes) -> bytes:
    parts = (_AAD_LABEL, tenant.encode(), field_path.encode(), record.encode(), header)
    return b"\x00".join(parts)


@dataclass(slots=True)  # not frozen: one is made per event, and frozen ones cost 3x as much
class EncryptedDocument:
    """An event with its protected fields replaced by ciphertext."""

    document: dict[str, Any]
    key_version: int | None  # None when no protected field was present
    blind_indexes: dict[str, bytes] = field(default_factory=dict)  # field path -> digest


@dataclass(frozen=True)
class DecryptedDocument:
    document: dict[str, Any]
    errors: list[CiphertextError]  # fields left as null because they failed verification


class FieldCipher:
    """Encrypts with the keyring's primary key, decrypts with any key it holds."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._aeads = {k.version: AESGCM(k.material) for k in keyring.keys}
        self._primary_aead = self._aeads[keyring.primary_version]
        self._header = _HEADER.pack(FORMAT_VERSION, keyring.primary_version)
        self._tenant_bytes = keyring.tenant.encode()
        # per field path, what every value of it shares: split path, the associated data
        # up to the record, the blind index's HMAC with its label/tenant/path absorbed
        self._fields: dict[str, _FieldState] = {}
        self._plans: dict[tuple[tuple[str, ...], tuple[str, ...]], _Plan] = {}

    def _field(self, field_path: str) -> _FieldState:
        state = self._fields.get(field_path)
        if state is None:
            *parents, leaf = field_path.split(".")
            path = field_path.encode()
            index_prefix = b"\x00".join((_INDEX_LABEL, self._tenant_bytes, path, b""))
            state = self._fields[field_path] = _FieldState(
                field_path,
                tuple(parents),
                leaf,
                b"\x00".join((_AAD_LABEL, self._tenant_bytes, path)),
                hmac.new(self.keyring.index_key, index_prefix, hashlib.sha256),
            )
        return state

    @property
    def tenant(self) -> str:
        return self.keyring.tenant

    @property
    def primary_version(self) -> int:
        return self.keyring.primary_version

    def encrypt(self, field_path: str, value: Any, record: str = "") -> str:
        return self._seal(field_path, orjson.dumps(value), record)

    def _seal(self, field_path: str, plain: bytes, record: str) -> str:
        header = self._header
        nonce = os.urandom(NONCE_BYTES)
        aad = _aad(self.tenant, field_path, record, header)
        sealed = self._primary_aead.encrypt(nonce, plain, aad)
        return PREFIX + base64.urlsafe_b64encode(header + nonce + sealed).decode("ascii")

    def _split(self, field_path: str, token: str) -> tuple[bytes, int, bytes, bytes]:
        if not is_ciphertext(token):
            raise CiphertextError(self.tenant, field_path, "not a ciphertext")
        try:
            raw = base64.urlsafe_b64decode(token[len(PREFIX) :].encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise CiphertextError(self.tenant, field_path, "malformed encoding") from None
        if len(raw) < _HEADER.size + NONCE_BYTES + TAG_BYTES:
            raise CiphertextError(self.tenant, field_path, "truncated ciphertext")
        header = raw[: _HEADER.size]
        fmt, version = _HEADER.unpack(header)
        if fmt != FORMAT_VERSION:
            raise CiphertextError(self.tenant, field_path, f"unknown format {fmt}")
        nonce = raw[_HEADER.size : _HEADER.size + NONCE_BYTES]
        return header, version, nonce, raw[_HEADER.size + NONCE_BYTES :]

    def key_version_of(self, field_path: str, token: str) -> int:
        return self._split(field_path, token)[1]

    def decrypt(self, field_path: str, token: str, record: str = "") -> Any:
        header, version, nonce, sealed = self._split(field_path, token)
        aead = self._aeads.get(version)
        if aead is None:
            raise CiphertextError(self.tenant, field_path, f"no key version {version}")
        try:
            plain = aead.decrypt(nonce, sealed, _aad(self.tenant, field_path, record, header))
        except InvalidTag:
            raise CiphertextError(
                self.tenant, field_path, "authentication failed (tampered or moved ciphertext)"
            ) from None
        return orjson.loads(plain)

    def blind_index(self, field_path: str, value: Any) -> bytes:
        return self._field(field_path).index(orjson.dumps(value))

    def encrypt_document(
        self,
        document: Mapping[str, Any],
        field_paths: Iterable[str],
        record: str = "",
        *,
        indexed: Iterable[str] = (),
    ) -> EncryptedDocument:
        """A copy of ``document`` with each present path in ``field_paths`` encrypted,
        bound to ``record`` (the event id) so it cannot be moved to another row, and the
        blind indexes of the present paths that are also in ``indexed``.

        Missing paths and null values are left alone (nothing to protect)."""
        return self.encrypt_documents([(document, record)], field_paths, indexed=indexed)[0]

    def encrypt_documents(
        self,
        documents: Sequence[tuple[Mapping[str, Any], str]],
        field_paths: Iterable[str],
        *,
        indexed: Iterable[str] = (),
    ) -> list[EncryptedDocument]:
        """:meth:`encrypt_document` of each ``(document, record)``, with the plan looked up
        and the nonces drawn once for all of them (one system call per batch)."""
        plan = self._plan(field_paths, indexed)
        nonces = os.urandom(NONCE_BYTES * plan.size * len(documents))
        used = 0
        header, aead, primary = self._header, self._primary_aead, self.keyring.primary_version
        results: list[EncryptedDocument] = []
        for document, record in documents:
            copy = dict(document)
            indexes: dict[str, bytes] = {}
            first = used
            tail = b"\x00" + record.encode() + b"\x00" + header  # AAD after label/tenant/path
            for parents, leaves, writes in plan.sections:
                parent = _section(copy, parents, private=writes)
                if parent is None:
                    continue
                for leaf, state, seal, index in leaves:
                    value = parent.get(leaf)
                    if value is None:
                        continue
                    plain = orjson.dumps(value)  # serialised once for both
                    if index:
                        indexes[state.path] = state.index(plain)
                    if not seal:
                        continue
                    nonce = nonces[used : used + NONCE_BYTES]
                    used += NONCE_BYTES
                    sealed = aead.encrypt(nonce, plain, state.aad_prefix + tail)
                    token = binascii.b2a_base64(header + nonce + sealed, newline=False)
                    parent[leaf] = (_PREFIX_BYTES + token.translate(_URLSAFE)).decode("ascii")
            version = primary if used > first else None
            results.append(EncryptedDocument(copy, version, indexes))
        return results

    def _plan(self, field_paths: Iterable[str], indexed: Iterable[str]) -> _Plan:
        """The field paths grouped by the section that holds them (computed once per list),
        so a section is copied once however many of its fields are protected. A path below
        another listed path is sealed with its ancestor and only indexed itself, so
        sections run deepest first: they read their leaves before an ancestor is sealed."""
        key = (tuple(field_paths), tuple(indexed))
        plan = self._plans.get(key)
        if plan is None:
            unique = list(dict.fromkeys(key[0]))
            searchable = set(key[1])
            sections: dict[tuple[str, ...], list[tuple[str, _FieldState, bool, bool]]] = {}
            for path in unique:
                state = self._field(path)
                covered = any(path.startswith(f"{other}.") for other in unique)
                leaf = (state.leaf, state, not covered, path in searchable)
                sections.setdefault(state.parents, []).append(leaf)
            plan = self._plans[key] = _Plan(
                tuple(
                    (parents, tuple(leaves), any(seal for _, _, seal, _ in leaves))
                    for parents, leaves in sorted(sections.items(), key=lambda s: -len(s[0]))
                ),
                sum(seal for leaves in sections.values() for _, _, seal, _ in leaves),
            )
        return plan

    def decrypt_document(self, document: Mapping[str, Any], record: str = "") -> DecryptedDocument:
        """Decrypts every ciphertext found (whatever the tenant's current field list says, so
        rows written under an older configuration still read back). A value that fails
        verification becomes null and its error is returned: reported, never trusted."""
        copy = _deep_copy(document)
        errors: list[CiphertextError] = []
        for path, parent, leaf in list(_ciphertexts(copy)):
            try:
                parent[leaf] = self.decrypt(path, parent[leaf], record)
            except CiphertextError as error:
                parent[leaf] = None
                errors.append(error)
        return DecryptedDocument(document=copy, errors=errors)

    def rewrap_document(self, document: Mapping[str, Any], record: str = "") -> dict[str, Any]:
        """Re-encrypts every ciphertext under the primary key; raises on any bad one
        (a row that does not verify is never rewritten, so the evidence stays)."""
        copy = _deep_copy(document)
        for path, parent, leaf in list(_ciphertexts(copy)):
            parent[leaf] = self.encrypt(path, self.decrypt(path, parent[leaf], record), record)
        return copy


def _deep_copy(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in document.items()}


RECENT_DIGESTS = 1024  # per field path: a viewer's id, e-mail and IP recur batch after batch


@dataclass(frozen=True, slots=True)
class _FieldState:
    path: str
    parents: tuple[str, ...]
    leaf: str
    aad_prefix: bytes  # label \0 tenant \0 path (then \0 record \0 header, see _aad)
    index_mac: hmac.HMAC  # keyed with the index key, label \0 tenant \0 path \0 absorbed
    # serialised value -> its blind index, for values seen lately (bounded: emptied when
    # full). The values are plaintext, as the batch being encrypted is, in this process.
    recent: dict[bytes, bytes] = field(default_factory=dict)

    def index(self, plain: bytes) -> bytes:
        """HMAC(index key, label \0 tenant \0 path \0 plain), truncated, remembered for
        recent values; the keyed state of the prefix is computed once per path and copied."""
        digest = self.recent.get(plain)
        if digest is None:
            mac = self.index_mac.copy()
            mac.update(plain)
            digest = mac.digest()[:BLIND_INDEX_BYTES]
            if len(self.recent) >= RECENT_DIGESTS:
                self.recent.clear()
            self.recent[plain] = digest
        return digest


@dataclass(frozen=True, slots=True)
class _Plan:
    # (parents, ((leaf, state, seal: False when an ancestor path seals it, index), ...),
    #  writes)
    sections: tuple[
        tuple[tuple[str, ...], tuple[tuple[str, _FieldState, bool, bool], ...], bool], ...
    ]
    size: int  # sealed fields at most: nonces drawn per document


def _section(
    document: dict[str, Any], parents: tuple[str, ...], *, private: bool
) -> dict[str, Any] | None:
    """The dict holding a section's leaves; with ``private``, each dict on the way is
    copied (copy on write: the caller's input is never modified; ``document`` itself is
    already a private copy, and each section is visited once per document)."""
    node = document
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            return None
        if private:
            child = node[part] = dict(child)
        node = child
    return node


def _ciphertexts(
    node: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any], str]]:
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _ciphertexts(value, path + ".")
        elif is_ciphertext(value):
            yield path, node, key
