"""Blind-index rows (equality lookups on encrypted fields): how a batch's digests go in, and
how a lookup finds them again. The layout and why it is bucketed: :class:`BlindIndexRow`.

Digests travel as hex (what :meth:`FieldCipher.blind_index` returns, and what the API and
the tests hand over) and are stored as the bytes they spell.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select

from ott_runtime.storage.direct import DirectStatements, insert_rows
from ott_runtime.storage.scope import table_of
from ott_runtime.storage.tables import BLIND_INDEX_BUCKET_BITS, BlindIndexRow

_TABLE = table_of(BlindIndexRow)
_COLUMNS = ("bucket", "digest", "event_seq")
_POSTGRES_TYPES = ("integer", "bytea", "bigint")


def bucket_of(event_seq: int) -> int:
    return event_seq >> BLIND_INDEX_BUCKET_BITS


def digest_bytes(field_path: str, digest: str) -> bytes:
    """The stored form of a hex digest; anything else is refused with the field's name."""
    try:
        return bytes.fromhex(digest)
    except ValueError:
        raise ValueError(f"the blind index of {field_path!r} is not a hex digest") from None


async def add_blind_indexes(
    statements: DirectStatements, tenant_id: str, indexes: Sequence[tuple[str, str, int]]
) -> None:
    """Inserts ``(field path, hex digest, event seq)`` rows for the tenant, sorted by key
    (the pages are then visited in order)."""
    rows = sorted(
        (bucket_of(seq), digest_bytes(path, digest), seq) for path, digest, seq in indexes
    )
    await insert_rows(
        statements, _TABLE.name, _COLUMNS, _POSTGRES_TYPES, rows, shared={"tenant_id": tenant_id}
    )


def blind_index_matches(
    tenant_id: str, field_path: str, digest: str, *, after_seq: int | None = None
) -> Select[tuple[int]]:
    """The seqs of the tenant's events whose ``field_path`` has this digest.

    A loose index scan: a recursive CTE steps from one bucket of the tenant to the next
    (one seek each, skipping the buckets it has no rows in) and each bucket is probed for
    the digest, on SQLite and PostgreSQL alike. Buckets before ``after_seq`` are skipped.
    """
    stored = digest_bytes(field_path, digest)
    table = _TABLE
    first = 0 if after_seq is None else bucket_of(after_seq)
    start = (
        select(func.min(table.c.bucket).label("bucket"))
        .where(table.c.tenant_id == tenant_id, table.c.bucket >= first)
        .cte("blind_buckets", recursive=True)
    )
    following = (
        select(func.min(table.c.bucket))
        .where(table.c.tenant_id == tenant_id, table.c.bucket > start.c.bucket)
        .scalar_subquery()
    )
    buckets = start.union_all(select(following).where(start.c.bucket.is_not(None)))
    return (
        select(table.c.event_seq)
        .select_from(buckets)
        .join(table, table.c.bucket == buckets.c.bucket)
        .where(table.c.tenant_id == tenant_id, table.c.digest == stored)
    )
