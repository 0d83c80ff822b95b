"""Field-level encryption at rest: AES-256-GCM envelopes, HMAC blind indexes, keyring sources.

Pure domain code (no web framework, no database): the ingest pipeline encrypts with it,
the API decrypts with it, and ``ottc keys rewrap`` moves rows to the primary key.
"""

from ott_runtime.crypto.fields import EncryptedDocument, FieldCipher
from ott_runtime.crypto.formats import ENVELOPE_KEY, CiphertextError
from ott_runtime.crypto.sources import KeyRingFile, KeyStore

__all__ = [
    "ENVELOPE_KEY",
    "CiphertextError",
    "EncryptedDocument",
    "FieldCipher",
    "KeyRingFile",
    "KeyStore",
]
