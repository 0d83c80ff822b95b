"""Field encryption: round trip, binding to tenant and field, tamper detection, keyring reload."""

from __future__ import annotations

import base64
import copy
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ott_runtime.crypto import CiphertextError, FieldCipher, KeyRingFile, KeyStore, is_ciphertext
from ott_runtime.crypto.fields import PREFIX, RECENT_DIGESTS
from ott_runtime.crypto.sources import write_keyring
from ott_runtime.domain.keyring import SECRET_DATA_KEY, KeyRing

ACME = FieldCipher(KeyRing.generate("acme"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=200),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(value=json_values, path=st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,3}", fullmatch=True))
def test_round_trip_returns_the_same_value(value: Any, path: str) -> None:
    token = ACME.encrypt(path, value)
    assert is_ciphertext(token)
    assert ACME.decrypt(path, token) == value


@settings(max_examples=150, deadline=None)
@given(
    value=st.text(min_size=1, max_size=64), position=st.integers(min_value=0), bit=st.integers(0, 7)
)
def test_any_flipped_bit_is_detected(value: str, position: int, bit: int) -> None:
    token = ACME.encrypt("viewer.email", value)
    raw = bytearray(base64.urlsafe_b64decode(token[len(PREFIX) :]))
    raw[position % len(raw)] ^= 1 << bit
    tampered = PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(CiphertextError):
        ACME.decrypt("viewer.email", tampered)


def test_ciphertext_moved_to_another_field_or_tenant_is_refused() -> None:
    token = ACME.encrypt("viewer.email", "kid@example.com")
    with pytest.raises(CiphertextError, match="authentication failed"):
        ACME.decrypt("viewer.id", token)
    # another tenant holding the very same key material still cannot read it
    other = FieldCipher(KeyRing(**{**ACME.keyring.__dict__, "tenant": "globex"}))
    with pytest.raises(CiphertextError, match="authentication failed"):
        other.decrypt("viewer.email", token)


def test_truncated_and_garbage_tokens_are_errors_not_crashes() -> None:
    token = ACME.encrypt("device.ip", "10.0.0.1")
    for bad in (token[:20], PREFIX + "!!!", PREFIX, "plain text"):
        with pytest.raises(CiphertextError):
            ACME.decrypt("device.ip", bad)


def test_key_version_travels_inside_the_ciphertext_and_old_keys_still_decrypt() -> None:
    ring = KeyRing.generate("acme")
    old = FieldCipher(ring)
    token = old.encrypt("viewer.id", "v-1")
    rotated = FieldCipher(ring.rotate())
    assert rotated.key_version_of("viewer.id", token) == 1
    assert rotated.decrypt("viewer.id", token) == "v-1"
    assert rotated.key_version_of("viewer.id", rotated.encrypt("viewer.id", "v-1")) == 2
    # a keyring that lacks version 2 reports the missing key instead of guessing
    with pytest.raises(CiphertextError, match="no key version 2"):
        old.decrypt("viewer.id", rotated.encrypt("viewer.id", "v-1"))


def test_document_encryption_protects_configured_paths_and_indexes_the_searchable() -> None:
    event = {"id": "e1", "viewer": {"id": "v-9", "email": None}, "device": {"ip": "1.2.3.4"}}
    protected = ["viewer.id", "viewer.email", "device.ip", "geo.x"]
    sealed = ACME.encrypt_document(event, protected, indexed=protected)
    assert is_ciphertext(sealed.document["viewer"]["id"])
    assert is_ciphertext(sealed.document["device"]["ip"])
    assert sealed.document["viewer"]["email"] is None  # nothing to protect
    assert event["viewer"]["id"] == "v-9"  # the input is not modified
    assert sealed.key_version == ACME.primary_version
    assert set(sealed.blind_indexes) == {"viewer.id", "device.ip"}
    assert sealed.blind_indexes["viewer.id"] == ACME.blind_index("viewer.id", "v-9")
    assert ACME.blind_index("viewer.id", "v-9") != ACME.blind_index("device.ip", "v-9")
    opened = ACME.decrypt_document(sealed.document)
    assert opened.errors == []
    assert opened.document == event
    # only the listed paths get an index; the others are sealed all the same
    only_ip = ACME.encrypt_document(event, protected, indexed=["device.ip", "geo.x"])
    assert only_ip.blind_indexes == {"device.ip": ACME.blind_index("device.ip", "1.2.3.4")}
    assert is_ciphertext(only_ip.document["viewer"]["id"])
    assert ACME.encrypt_document(event, protected).blind_indexes == {}


documents = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["a", "b", ""]),
    lambda children: st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3),
    max_leaves=12,
).filter(lambda d: isinstance(d, dict))
paths = st.lists(
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map(".".join), max_size=6
)


def _leaf(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return document


@settings(max_examples=200, deadline=None)
@given(document=documents, field_paths=paths, indexed=paths)
def test_document_encryption_of_any_field_list_round_trips_and_leaves_the_input_alone(
    document: dict[str, Any], field_paths: list[str], indexed: list[str]
) -> None:
    """Overlapping, nested, duplicated and absent paths: exactly the listed leaves holding a
    value are sealed (a path below another listed one inside its ancestor), those also in
    ``indexed`` are indexed, and decryption gives the document back."""
    before = copy.deepcopy(document)
    sealed = ACME.encrypt_document(document, field_paths, "record-1", indexed=indexed)
    assert document == before
    protected = {
        path: value
        for path in field_paths
        if (value := _leaf(document, path)) is not None
        and all(isinstance(_leaf(document, p), dict) for p in _parents(path))
    }
    assert sealed.blind_indexes == {
        path: ACME.blind_index(path, value) for path, value in protected.items() if path in indexed
    }
    assert sealed.key_version == (ACME.primary_version if protected else None)
    for path in protected:  # a path below another protected one is sealed inside it
        if not any(parent in protected for parent in _parents(path)):
            assert is_ciphertext(_leaf(sealed.document, path))
    opened = ACME.decrypt_document(sealed.document, "record-1")
    assert opened.errors == []
    assert opened.document == before


def _parents(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def test_ciphertext_moved_to_another_record_is_refused() -> None:
    token = ACME.encrypt("viewer.id", "alice", "event-1")
    assert ACME.decrypt("viewer.id", token, "event-1") == "alice"
    with pytest.raises(CiphertextError, match="authentication failed"):
        ACME.decrypt("viewer.id", token, "event-2")


def test_document_decryption_reports_a_swapped_field_and_nulls_it() -> None:
    sealed = ACME.encrypt_document(
        {"viewer": {"id": "a", "email": "b"}}, ["viewer.id", "viewer.email"]
    )
    doc = sealed.document
    doc["viewer"]["id"], doc["viewer"]["email"] = doc["viewer"]["email"], doc["viewer"]["id"]
    opened = ACME.decrypt_document(doc)
    assert opened.document["viewer"] == {"id": None, "email": None}
    assert sorted(e.field_path for e in opened.errors) == ["viewer.email", "viewer.id"]
    assert all("b" not in str(e) for e in opened.errors)  # the message names no data


def test_keyring_file_reloads_after_rotation_and_keeps_last_good_on_garbage(
    tmp_path: Path,
) -> None:
    secret_dir = tmp_path / "tenant-keys"
    ring = KeyRing.generate("acme")
    write_keyring(secret_dir / SECRET_DATA_KEY, ring)
    source = KeyRingFile(secret_dir, tenant="acme", poll_interval=0)
    token = source.cipher().encrypt("viewer.id", "x")
    write_keyring(secret_dir / SECRET_DATA_KEY, ring.rotate())
    assert source.cipher().primary_version == 2
    assert source.cipher().decrypt("viewer.id", token) == "x"
    assert source.reloads == 1
    (secret_dir / SECRET_DATA_KEY).write_text("{half a file")
    os.utime(secret_dir / SECRET_DATA_KEY, (time.time() + 5, time.time() + 5))
    assert source.cipher().primary_version == 2  # last good keyring keeps serving
    assert source.last_error is not None
    assert "malformed keyring" in source.last_error


def test_keystore_creates_missing_keyrings_only_when_asked_and_never_shows_material(
    tmp_path: Path,
) -> None:
    with pytest.raises(FileNotFoundError):
        KeyStore.from_directory(tmp_path, ["acme"])
    store = KeyStore.from_directory(tmp_path, ["acme", "globex"], create_missing=True)
    assert (tmp_path / "acme.json").stat().st_mode & 0o777 == 0o600
    description = store.describe("acme")
    assert description["activeVersion"] == 1
    assert [k["state"] for k in description["keys"]] == ["primary"]
    material = base64.b64encode(store.source("acme").keyring.primary.material).decode()
    assert material not in repr(description)
    with pytest.raises(ValueError, match="belongs to tenant"):
        KeyRingFile(tmp_path / "acme.json", tenant="globex")


def test_recent_blind_indexes_are_bounded_and_equal_to_fresh_ones() -> None:
    cipher = FieldCipher(KeyRing.generate("acme"))
    fresh = FieldCipher(cipher.keyring)
    values = [f"viewer-{i}" for i in range(RECENT_DIGESTS + 10)]
    for _ in range(2):  # values remembered, then forgotten when full, then computed again
        for value in values:
            sealed = cipher.encrypt_document(
                {"viewer": {"id": value}}, ["viewer.id"], indexed=["viewer.id"]
            )
            assert sealed.blind_indexes["viewer.id"] == fresh.blind_index("viewer.id", value)
    assert len(cipher._field("viewer.id").recent) <= RECENT_DIGESTS
