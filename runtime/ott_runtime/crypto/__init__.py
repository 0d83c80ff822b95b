"""Field-level encryption at rest: AES-256-GCM per field, HMAC blind indexes, keyring sources.

Pure domain code (no web framework, no database): the ingest pipeline encrypts with it,
the API decrypts with it, and ``ottc keys rewrap`` moves rows to the primary key.
"""

from ott_runtime.crypto.fields import (
    CiphertextError,
    EncryptedDocument,
    FieldCipher,
    is_ciphertext,
)
from ott_runtime.crypto.sources import KeyRingFile, KeyStore

__all__ = [
    "CiphertextError",
    "EncryptedDocument",
    "FieldCipher",
    "KeyRingFile",
    "KeyStore",
    "is_ciphertext",
]
