"""Field encryption: round trip, binding to tenant, record and field, tamper detection,
the format-1 values written before envelopes, keyring reload."""

from __future__ import annotations

import base64
import copy
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ott_runtime.crypto import ENVELOPE_KEY, CiphertextError, FieldCipher, KeyRingFile, KeyStore
from ott_runtime.crypto.fields import RECENT_DIGESTS, DecryptedDocument
from ott_runtime.crypto.sources import write_keyring
from ott_runtime.domain.keyring import SECRET_DATA_KEY, KeyRing
from ott_runtime.ingest.batch import validate_batch
from ott_runtime.ingest.errors import IngestError
from ott_runtime.ingest.schemas import event_validators

if TYPE_CHECKING:
    from tests.unit.runtime.conftest import Format1Token

ACME = FieldCipher(KeyRing.generate("acme"))
VIEWER_FIELDS = ["viewer.id", "viewer.email", "device.ip"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=200),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _nested(path: str, value: Any) -> dict[str, Any]:
    document: Any = value
    for part in reversed(path.split(".")):
        document = {part: document}
    return dict(document)


def _viewer_event(record: str = "e1") -> dict[str, Any]:
    return {
        "id": record,
        "viewer": {"id": "v-9", "email": "kid@example.com"},
        "device": {"ip": "10.0.0.1"},
    }


def _sealed_viewer_event(cipher: FieldCipher = ACME, record: str = "e1") -> dict[str, Any]:
    return cipher.encrypt_document(_viewer_event(record), VIEWER_FIELDS, record).document


@settings(max_examples=150, deadline=None)
@given(value=json_values, path=st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,3}", fullmatch=True))
def test_round_trip_returns_the_same_value(value: Any, path: str) -> None:
    document = _nested(path, value)
    sealed = ACME.encrypt_document(document, [path], "r1").document
    if value is not None:
        assert _leaf(sealed, path) is None  # the value left the document for the envelope
        assert sealed[ENVELOPE_KEY]["fields"] == [path]
    opened = ACME.decrypt_document(sealed, "r1")
    assert opened.errors == []
    assert opened.document == document


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_is_detected_and_every_sealed_field_reported(
    position: int, bit: int
) -> None:
    sealed = _sealed_viewer_event()
    envelope = sealed[ENVELOPE_KEY]
    raw = bytearray(base64.urlsafe_b64decode(envelope["ciphertext"]))
    raw[position % len(raw)] ^= 1 << bit
    envelope["ciphertext"] = base64.urlsafe_b64encode(bytes(raw)).decode()
    opened = ACME.decrypt_document(sealed, "e1")
    assert sorted(e.field_path for e in opened.errors) == sorted(VIEWER_FIELDS)
    assert opened.document["viewer"] == {"id": None, "email": None}
    assert opened.document["device"] == {"ip": None}
    assert all("kid@example.com" not in str(e) for e in opened.errors)  # no data in messages


def test_envelope_moved_to_another_record_or_tenant_is_refused() -> None:
    sealed = _sealed_viewer_event(record="event-1")
    assert ACME.decrypt_document(sealed, "event-1").errors == []
    moved = ACME.decrypt_document(sealed, "event-2")
    assert {e.reason for e in moved.errors} == {
        "authentication failed (tampered or moved ciphertext)"
    }
    # another tenant holding the very same key material still cannot read it
    other = FieldCipher(KeyRing(**{**ACME.keyring.__dict__, "tenant": "globex"}))
    assert len(other.decrypt_document(sealed, "event-1").errors) == len(VIEWER_FIELDS)


def test_a_value_written_where_a_sealed_field_was_is_replaced_by_the_sealed_one() -> None:
    sealed = _sealed_viewer_event()
    sealed["viewer"]["id"] = "forged"
    opened = ACME.decrypt_document(sealed, "e1")
    assert opened.errors == []
    assert opened.document == _viewer_event()
    del sealed["device"]  # a section that held a sealed field, removed: reported
    opened = ACME.decrypt_document(sealed, "e1")
    assert [(e.field_path, e.reason) for e in opened.errors] == [
        ("device.ip", "its section is missing")
    ]
    assert opened.document["viewer"] == _viewer_event()["viewer"]


def test_editing_the_envelope_field_list_fails_authentication() -> None:
    sealed = _sealed_viewer_event()
    sealed[ENVELOPE_KEY]["fields"] = ["viewer.email", "viewer.id", "device.ip"]  # reordered
    opened = ACME.decrypt_document(sealed, "e1")
    assert len(opened.errors) == 3
    assert opened.document["viewer"]["email"] is None


@pytest.mark.parametrize(
    "envelope",
    [
        "a string",
        {"fields": ["viewer.id"]},
        {"fields": [], "ciphertext": "AAAA"},
        {"fields": ["viewer.id", "viewer.id"], "ciphertext": "AAAA"},
        {"fields": "viewer.id", "ciphertext": "AAAA"},
        {"fields": ["viewer.id"], "ciphertext": "!!!"},
        {"fields": ["viewer.id"], "ciphertext": "AQAAAAE"},
        {"fields": ["viewer.id"], "ciphertext": base64.urlsafe_b64encode(b"\x07" * 40).decode()},
    ],
)
def test_malformed_envelopes_are_errors_not_crashes(envelope: Any) -> None:
    sealed = _sealed_viewer_event()
    sealed[ENVELOPE_KEY] = envelope
    opened = ACME.decrypt_document(sealed, "e1")
    assert opened.errors
    assert opened.document["viewer"].get("id") is None
    assert ENVELOPE_KEY not in opened.document


def test_an_event_without_protected_values_is_left_as_it_is() -> None:
    event = {"id": "e1", "viewer": {"age": 9}, "content": {"title": "ottc:enc:v1"}}
    sealed = ACME.encrypt_document(event, VIEWER_FIELDS, "e1")
    assert sealed.document == event
    assert sealed.key_version is None
    assert ACME.decrypt_document(event, "e1") == DecryptedDocument(event, [])


def test_an_event_cannot_bring_its_own_envelope() -> None:
    event = {
        "specVersion": "1", "id": "e1", "type": "ad.impression", "time": "2026-11-26T20:15:00Z",
        "content": {"id": "c"}, "ad": {"id": "a", "durationSeconds": 30},
        ENVELOPE_KEY: {"fields": ["viewer.id"], "ciphertext": "AAAA"},
    }  # fmt: skip
    with pytest.raises(IngestError) as refused:  # the schemas refuse it at the door
        validate_batch([event], event_validators())
    assert [(p.index, p.field) for p in refused.value.problems] == [(0, ENVELOPE_KEY)]
    with pytest.raises(ValueError, match="cannot carry its own"):  # and so does sealing
        ACME.encrypt_document({**_viewer_event(), ENVELOPE_KEY: {}}, VIEWER_FIELDS, "e1")


def test_key_version_travels_inside_the_envelope_and_old_keys_still_decrypt() -> None:
    ring = KeyRing.generate("acme")
    old = FieldCipher(ring)
    sealed = _sealed_viewer_event(old)
    rotated = FieldCipher(ring.rotate())
    assert rotated.key_version_of(sealed) == 1
    assert rotated.decrypt_document(sealed, "e1").document == _viewer_event()
    resealed = rotated.rewrap_document(sealed, "e1")
    assert rotated.key_version_of(resealed) == 2
    assert rotated.decrypt_document(resealed, "e1").document == _viewer_event()
    # a keyring that lacks version 2 reports the missing key instead of guessing
    errors = old.decrypt_document(resealed, "e1").errors
    assert {e.reason for e in errors} == {"no key version 2"}
    assert rotated.key_version_of(_viewer_event()) is None


def test_format_1_rows_still_decrypt_are_checked_and_rewrap_to_envelopes(
    format1_token: Format1Token,
) -> None:
    ring = ACME.keyring
    legacy = {
        "id": "e1",
        "viewer": {"id": format1_token(ring, "viewer.id", "v-9", "e1"), "age": 9},
        "device": {"ip": format1_token(ring, "device.ip", "10.0.0.1", "e1")},
    }
    plain = {"id": "e1", "viewer": {"id": "v-9", "age": 9}, "device": {"ip": "10.0.0.1"}}
    assert ACME.decrypt_document(legacy, "e1").document == plain
    assert ACME.key_version_of(legacy) == ring.primary_version
    assert ACME.sealed_paths(legacy) == ["viewer.id", "device.ip"]
    rewrapped = ACME.rewrap_document(legacy, "e1")
    assert rewrapped[ENVELOPE_KEY]["fields"] == ["viewer.id", "device.ip"]
    assert "id" not in rewrapped["viewer"]
    assert ACME.decrypt_document(rewrapped, "e1").document == plain
    # a format-1 value swapped to another field or row fails as it always did
    swapped = copy.deepcopy(legacy)
    swapped["viewer"]["id"], swapped["device"]["ip"] = (
        legacy["device"]["ip"],
        legacy["viewer"]["id"],
    )
    opened = ACME.decrypt_document(swapped, "e1")
    assert sorted(e.field_path for e in opened.errors) == ["device.ip", "viewer.id"]
    assert len(ACME.decrypt_document(legacy, "e2").errors) == 2
    with pytest.raises(CiphertextError, match="authentication failed"):
        ACME.rewrap_document(swapped, "e1")


def test_document_encryption_protects_configured_paths_and_indexes_the_searchable() -> None:
    event = {"id": "e1", "viewer": {"id": "v-9", "email": None}, "device": {"ip": "1.2.3.4"}}
    protected = ["viewer.id", "viewer.email", "device.ip", "geo.x"]
    sealed = ACME.encrypt_document(event, protected, indexed=protected)
    assert sealed.document["viewer"] == {"email": None}  # nothing to protect in a null
    assert sealed.document["device"] == {}
    assert sealed.document[ENVELOPE_KEY]["fields"] == ["viewer.id", "device.ip"]
    assert b"v-9" not in orjson.dumps(sealed.document)
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
    assert ACME.sealed_paths(only_ip.document) == ["viewer.id", "device.ip"]
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
    # a path below another protected one is sealed inside it
    outermost = [p for p in protected if not any(a in protected for a in _parents(p))]
    assert sorted(ACME.sealed_paths(sealed.document)) == sorted(outermost)
    assert all(_leaf(sealed.document, path) is None for path in outermost)
    opened = ACME.decrypt_document(sealed.document, "record-1")
    assert opened.errors == []
    assert opened.document == before


def _parents(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def test_keyring_file_reloads_after_rotation_and_keeps_last_good_on_garbage(
    tmp_path: Path,
) -> None:
    secret_dir = tmp_path / "tenant-keys"
    ring = KeyRing.generate("acme")
    write_keyring(secret_dir / SECRET_DATA_KEY, ring)
    source = KeyRingFile(secret_dir, tenant="acme", poll_interval=0)
    sealed = _sealed_viewer_event(source.cipher())
    write_keyring(secret_dir / SECRET_DATA_KEY, ring.rotate())
    assert source.cipher().primary_version == 2
    assert source.cipher().decrypt_document(sealed, "e1").document == _viewer_event()
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


def test_remembered_blind_indexes_keep_values_of_different_types_apart() -> None:
    cipher = FieldCipher(KeyRing.generate("acme"))
    values: list[Any] = [True, 1, "1", 1.5, "true", None, [1], {"a": 1}]
    first = [cipher.blind_index("viewer.id", v) for v in values]  # remembered
    again = [cipher.blind_index("viewer.id", v) for v in values]  # read back
    fresh = [FieldCipher(cipher.keyring).blind_index("viewer.id", v) for v in values]
    assert first == again == fresh
    assert len(set(first)) == len(values)
