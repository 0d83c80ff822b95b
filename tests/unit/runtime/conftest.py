"""Fixtures of the runtime's unit tests."""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ott_runtime.domain.keyring import KeyRing

Format1Token = Callable[[KeyRing, str, Any, str], str]


@pytest.fixture
def format1_token() -> Format1Token:
    """Builds a format-1 value (one ciphertext per field, as rows written before envelopes
    hold) from the documented layout rather than the code under test."""

    def build(ring: KeyRing, path: str, value: Any, record: str) -> str:
        header = struct.pack(">BI", 1, ring.primary_version)
        nonce = os.urandom(12)
        parts = (b"ott-compliance/field/v1", ring.tenant.encode(), path.encode(), record.encode())
        aad = b"\x00".join((*parts, header))
        sealed = AESGCM(ring.primary.material).encrypt(nonce, orjson.dumps(value), aad)
        return "ottc:enc:v1:" + base64.urlsafe_b64encode(header + nonce + sealed).decode()

    return build
