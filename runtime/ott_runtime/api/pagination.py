"""Opaque cursors: the last row's sequence number, encoded so clients do not build them."""

from __future__ import annotations

import base64
import binascii

from ott_runtime.api.problems import Problem


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("s"):
            raise ValueError(text)
        return int(text[1:])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Problem(
            400, "Invalid cursor", "use the nextCursor value of a previous page", "invalid-cursor"
        ) from None
