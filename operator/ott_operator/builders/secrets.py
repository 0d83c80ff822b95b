"""Secrets ``tenant-keys`` (the keyring) and ``tenant-api-key`` (Kong key-auth credential).

Both are built from state the handler read back from the cluster (or generated once), so
re-applying them never changes a key. ``data`` (not ``stringData``) is applied, so a hand
edit of the stored value is a conflict on a field the operator owns and is reverted.
"""

from __future__ import annotations

import base64
import secrets as token_source

from ott_operator import labels
from ott_operator.builders.context import Object, TenantContext
from ott_runtime.domain.contract import API_KEY_FILE

API_KEY_PREFIX = "ottc_"


def generate_api_key() -> str:
    """A fresh API key: 256 bits, URL-safe, recognisable by its prefix in secret scanners."""
    return API_KEY_PREFIX + token_source.token_urlsafe(32)


def keys_secret(ctx: TenantContext) -> Object:
    annotations = {labels.ROTATION_REQUEST: ctx.rotation_request} if ctx.rotation_request else None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": ctx.metadata(ctx.names.keys_secret, component="keys", annotations=annotations),
        "type": "Opaque",
        "data": ctx.keyring.to_secret_data(),
    }


def api_key_secret(ctx: TenantContext) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": ctx.metadata(
            ctx.names.api_key_secret,
            component="gateway",
            extra_labels={labels.KONG_CREDENTIAL: "key-auth"},
        ),
        "type": "Opaque",
        "data": {API_KEY_FILE: base64.b64encode(ctx.api_key.encode()).decode("ascii")},
    }
