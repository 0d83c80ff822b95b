"""Opaque cursors shared by REST pages, GraphQL connections and the live stream.

A cursor is a stored row's sequence number, encoded so clients pass it back rather than
build it; the three surfaces map ``InvalidCursor`` to their own error shapes.
"""

from __future__ import annotations

import base64
import binascii


class InvalidCursor(ValueError):
    """The text is not a cursor this service handed out."""


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("s"):
            raise ValueError(text)
        return int(text[1:])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor(cursor) from None
