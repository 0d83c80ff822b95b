"""Opaque cursors for REST pages (see ``ott_runtime.domain.cursors``)."""

from __future__ import annotations

from ott_runtime.api.problems import Problem
from ott_runtime.domain.cursors import InvalidCursor, encode_cursor
from ott_runtime.domain.cursors import decode_cursor as _decode

__all__ = ["decode_cursor", "encode_cursor"]


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return _decode(cursor)
    except InvalidCursor:
        raise Problem(
            400, "Invalid cursor", "use the nextCursor value of a previous page", "invalid-cursor"
        ) from None
