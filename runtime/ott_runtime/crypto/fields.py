"""AES-256-GCM encryption of an event's protected fields, and their blind indexes.

The ingest pipeline seals each event's protected fields into one envelope bound to its
tenant and event id (format 2, see :mod:`ott_runtime.crypto.formats`); the API opens it.
A value that fails verification is reported as a :class:`CiphertextError` and never
decrypted. Values are JSON-encoded before encryption so numbers and booleans come back as
they went in.

Blind indexes (HMAC-SHA256 with the keyring's index key over label, tenant, path and
value) let the API filter on equality of an encrypted field without decrypting every row.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ott_runtime.crypto.formats import (
    ENVELOPE_FORMAT,
    ENVELOPE_KEY,
    HEADER,
    LEGACY_FORMAT,
    LEGACY_PREFIX,
    NONCE_BYTES,
    URLSAFE,
    CiphertextError,
    decode,
    envelope_aad_prefix,
    envelope_parts,
    is_legacy_ciphertext,
    legacy_aad,
)
from ott_runtime.domain.keyring import KeyRing

_INDEX_LABEL = b"ott-compliance/blind-index/v1"
_TAMPERED = "authentication failed (tampered or moved ciphertext)"
_AAD_PREFIXES = 256  # combinations of present fields remembered (emptied when full)
BLIND_INDEX_BYTES = 16  # 128 bits: collisions are negligible, rows stay small


@dataclass(slots=True)  # not frozen: one is made per event, and frozen ones cost 3x as much
class EncryptedDocument:
    """An event with its protected fields sealed."""

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
        self._header = HEADER.pack(ENVELOPE_FORMAT, keyring.primary_version)
        self._tenant_bytes = keyring.tenant.encode()
        # per field path, what every value of it shares: split path, the blind index's
        # HMAC with its label/tenant/path absorbed, recent digests
        self._fields: dict[str, _FieldState] = {}
        self._plans: dict[tuple[tuple[str, ...], tuple[str, ...]], _Plan] = {}
        # the fields present in an event -> its associated data up to the event id
        self._aad_prefixes: dict[tuple[str, ...], bytes] = {}

    def _field(self, field_path: str) -> _FieldState:
        state = self._fields.get(field_path)
        if state is None:
            *parents, leaf = field_path.split(".")
            index_prefix = b"\x00".join(
                (_INDEX_LABEL, self._tenant_bytes, field_path.encode(), b"")
            )
            state = self._fields[field_path] = _FieldState(
                field_path,
                tuple(parents),
                leaf,
                hmac.new(self.keyring.index_key, index_prefix, hashlib.sha256),
            )
        return state

    @property
    def tenant(self) -> str:
        return self.keyring.tenant

    @property
    def primary_version(self) -> int:
        return self.keyring.primary_version

    def blind_index(self, field_path: str, value: Any) -> bytes:
        return self._field(field_path).index(value)

    def encrypt_document(
        self,
        document: Mapping[str, Any],
        field_paths: Iterable[str],
        record: str = "",
        *,
        indexed: Iterable[str] = (),
    ) -> EncryptedDocument:
        """A copy of ``document`` with each present path in ``field_paths`` sealed, bound
        to ``record`` (the event id) so it cannot be moved to another row, and the blind
        indexes of the present paths that are also in ``indexed``.

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
        nonces = os.urandom(NONCE_BYTES * len(documents)) if plan.seals else b""
        header, aead, prefixes = self._header, self._primary_aead, self._aad_prefixes
        primary = self.keyring.primary_version
        results: list[EncryptedDocument] = []
        for position, (document, record) in enumerate(documents):
            copy = dict(document)
            indexes: dict[str, bytes] = {}
            paths: list[str] = []
            values: list[Any] = []
            for parents, leaves, writes in plan.sections:
                parent = _section(copy, parents, private=writes)
                if parent is None:
                    continue
                for leaf, state, seal, index in leaves:
                    value = parent.get(leaf)
                    if value is None:
                        continue
                    if index:
                        indexes[state.path] = state.index(value)
                    if seal:
                        paths.append(state.path)
                        values.append(value)
                        del parent[leaf]
            if not paths:
                results.append(EncryptedDocument(copy, None, indexes))
                continue
            if ENVELOPE_KEY in document:
                raise ValueError(f"an event cannot carry its own {ENVELOPE_KEY!r}")
            present = tuple(paths)
            aad = prefixes.get(present)
            if aad is None:
                if len(prefixes) >= _AAD_PREFIXES:
                    prefixes.clear()
                aad = prefixes[present] = envelope_aad_prefix(self._tenant_bytes, header, paths)
            nonce = nonces[position * NONCE_BYTES : (position + 1) * NONCE_BYTES]
            sealed = aead.encrypt(nonce, orjson.dumps(values), aad + record.encode())
            token = b2a_base64(header + nonce + sealed, newline=False).translate(URLSAFE)
            copy[ENVELOPE_KEY] = {"fields": paths, "ciphertext": token.decode("ascii")}
            results.append(EncryptedDocument(copy, primary, indexes))
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
                any(seal for leaves in sections.values() for _, _, seal, _ in leaves),
            )
        return plan

    def decrypt_document(self, document: Mapping[str, Any], record: str = "") -> DecryptedDocument:
        """The document with its sealed fields back in place (whatever the tenant's current
        field list says, so rows written under an older configuration still read back). A
        value that fails verification becomes null and its error is returned: reported,
        never trusted."""
        copy = dict(document)
        envelope = copy.pop(ENVELOPE_KEY, None)
        if envelope is None:
            return self._decrypt_legacy(copy, record)
        try:
            paths, token = envelope_parts(envelope)
        except ValueError as error:
            return DecryptedDocument(copy, [CiphertextError(self.tenant, ENVELOPE_KEY, str(error))])
        errors: list[CiphertextError] = []
        try:
            values: list[Any] = self._open_envelope(paths, token, record)
        except CiphertextError as error:  # nothing in it can be trusted: each field is null
            values = [None] * len(paths)
            errors.extend(CiphertextError(self.tenant, path, error.reason) for path in paths)
        opened = not errors
        for path, value in zip(paths, values, strict=True):
            state = self._field(path)
            parent = _section(copy, state.parents, private=True)
            if parent is None:  # the section that held it was removed or replaced
                if opened:
                    errors.append(CiphertextError(self.tenant, path, "its section is missing"))
                continue
            parent[state.leaf] = value
        return DecryptedDocument(copy, errors)

    def _open_envelope(self, paths: list[str], token: str, record: str) -> list[Any]:
        values = self._open(
            ENVELOPE_KEY,
            token,
            ENVELOPE_FORMAT,
            lambda header: envelope_aad_prefix(self._tenant_bytes, header, paths) + record.encode(),
        )
        if not isinstance(values, list) or len(values) != len(paths):
            raise CiphertextError(self.tenant, ENVELOPE_KEY, "malformed envelope")
        return values

    def _open(self, field_path: str, token: str, fmt: int, aad_of: Callable[[bytes], bytes]) -> Any:
        """Decodes ``token`` (format ``fmt``), verifies it under the key its header names and
        the associated data ``aad_of(header)``, and returns the JSON value inside; every
        failure is a :class:`CiphertextError` naming ``field_path``."""
        try:
            sealed = decode(token, fmt)
        except ValueError as error:
            raise CiphertextError(self.tenant, field_path, str(error)) from None
        aead = self._aeads.get(sealed.key_version)
        if aead is None:
            raise CiphertextError(self.tenant, field_path, f"no key version {sealed.key_version}")
        try:
            plain = aead.decrypt(sealed.nonce, sealed.ciphertext, aad_of(sealed.header))
        except InvalidTag:
            raise CiphertextError(self.tenant, field_path, _TAMPERED) from None
        return orjson.loads(plain)

    def _decrypt_legacy(self, document: dict[str, Any], record: str) -> DecryptedDocument:
        """Format 1: each protected value is its own ciphertext."""
        copy = _deep_copy(document)
        errors: list[CiphertextError] = []
        for path, parent, leaf in list(_ciphertexts(copy)):
            try:
                parent[leaf] = self._decrypt_field(path, parent[leaf], record)
            except CiphertextError as error:
                parent[leaf] = None
                errors.append(error)
        return DecryptedDocument(copy, errors)

    def _decrypt_field(self, field_path: str, token: str, record: str) -> Any:
        return self._open(
            field_path,
            token[len(LEGACY_PREFIX) :],
            LEGACY_FORMAT,
            lambda header: legacy_aad(self.tenant, field_path, record, header),
        )

    def sealed_paths(self, document: Mapping[str, Any]) -> list[str]:
        """The paths of the fields ``document`` holds sealed (read from its envelope, or
        for a format-1 document, from its ciphertexts)."""
        envelope = document.get(ENVELOPE_KEY)
        if envelope is not None:
            try:
                return envelope_parts(envelope)[0]
            except ValueError as error:
                raise CiphertextError(self.tenant, ENVELOPE_KEY, str(error)) from None
        return [path for path, _, _ in _ciphertexts(document)]

    def key_version_of(self, document: Mapping[str, Any]) -> int | None:
        """The key version that sealed ``document`` (None when nothing is sealed); for a
        format-1 document, that of its first ciphertext."""
        envelope = document.get(ENVELOPE_KEY)
        try:
            if envelope is not None:
                return decode(envelope_parts(envelope)[1], ENVELOPE_FORMAT).key_version
            for _, parent, leaf in _ciphertexts(document):
                return decode(parent[leaf][len(LEGACY_PREFIX) :], LEGACY_FORMAT).key_version
        except ValueError as error:
            raise CiphertextError(self.tenant, ENVELOPE_KEY, str(error)) from None
        return None

    def rewrap_document(self, document: Mapping[str, Any], record: str = "") -> dict[str, Any]:
        """The document sealed again under the primary key, in format 2; raises on any
        value that does not verify (a row that does not verify is never rewritten, so the
        evidence stays)."""
        opened = self.decrypt_document(document, record)
        if opened.errors:
            raise opened.errors[0]
        paths = self.sealed_paths(document)
        return self.encrypt_document(opened.document, paths, record).document


def _deep_copy(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in document.items()}


RECENT_DIGESTS = 1024  # per field path: a viewer's id, e-mail and IP recur batch after batch


@dataclass(frozen=True, slots=True)
class _FieldState:
    path: str
    parents: tuple[str, ...]
    leaf: str
    index_mac: hmac.HMAC  # keyed with the index key, label \0 tenant \0 path \0 absorbed
    # recent values -> their blind index (bounded: emptied when full), keyed by the string
    # itself or by the serialised value for other types (str and bytes never compare
    # equal, and True == 1 must not share a digest). The values are plaintext, as the
    # batch being encrypted is, in this process.
    recent: dict[str | bytes, bytes] = field(default_factory=dict)

    def index(self, value: Any) -> bytes:
        """HMAC(index key, label \0 tenant \0 path \0 JSON of value), truncated, remembered
        for recent values; the keyed state of the prefix is computed once per path."""
        key: str | bytes = value if type(value) is str else orjson.dumps(value)
        digest = self.recent.get(key)
        if digest is None:
            mac = self.index_mac.copy()
            mac.update(key if isinstance(key, bytes) else orjson.dumps(key))
            digest = mac.digest()[:BLIND_INDEX_BYTES]
            if len(self.recent) >= RECENT_DIGESTS:
                self.recent.clear()
            self.recent[key] = digest
        return digest


@dataclass(frozen=True, slots=True)
class _Plan:
    # (parents, ((leaf, state, seal: False when an ancestor path seals it, index), ...),
    #  writes)
    sections: tuple[
        tuple[tuple[str, ...], tuple[tuple[str, _FieldState, bool, bool], ...], bool], ...
    ]
    seals: bool  # whether any listed path is sealed (else no nonces are drawn)


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


def _ciphertexts(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    """(path, parent, key) of each format-1 ciphertext below ``node``."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _ciphertexts(value, path + ".")
        elif is_legacy_ciphertext(value):
            yield path, node, key
