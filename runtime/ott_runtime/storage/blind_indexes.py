"""Blind-index rows (equality lookups on encrypted fields): how a batch's digests go in, and
how a lookup finds them again. The layout and why it is bucketed: :class:`BlindIndexRow`.

Digests are the 16 bytes :meth:`FieldCipher.blind_index` returns; the HMAC binds the tenant
and the field path, so the rows need neither a path nor a check of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Delete, Integer, Select, delete, func, literal, select, true

from ott_runtime.storage.direct import DirectStatements, insert_rows
from ott_runtime.storage.scope import table_of
from ott_runtime.storage.tables import BLIND_INDEX_BUCKET_BITS, BlindIndexRow

_TABLE = table_of(BlindIndexRow)
_COLUMNS = ("bucket", "digest", "event_seq")
_POSTGRES_TYPES = ("integer", "bytea", "bigint")


def bucket_of(event_seq: int) -> int:
    return event_seq >> BLIND_INDEX_BUCKET_BITS


def delete_blind_indexes(event_seqs: Select[int]) -> Delete:
    """Deletes the rows of these events (a select of their seqs). The rows are keyed by
    bucket first and have no index on the event, so the events' buckets narrow it."""
    buckets = event_seqs.with_only_columns(
        event_seqs.selected_columns[0].op(">>")(literal(BLIND_INDEX_BUCKET_BITS, Integer))
    ).distinct()
    return delete(BlindIndexRow).where(
        BlindIndexRow.bucket.in_(buckets), BlindIndexRow.event_seq.in_(event_seqs)
    )


async def add_blind_indexes(
    statements: DirectStatements, tenant_id: str, indexes: Iterable[tuple[bytes, int]]
) -> None:
    """Inserts ``(digest, event seq)`` rows for the tenant, sorted by key (the pages are
    then visited in order)."""
    rows = sorted([(bucket_of(seq), digest, seq) for digest, seq in indexes])
    if not rows:
        return
    await insert_rows(
        statements, _TABLE.name, _COLUMNS, _POSTGRES_TYPES, rows, shared={"tenant_id": tenant_id}
    )


def blind_index_matches(
    tenant_id: str, digest: bytes, *, after_seq: int | None = None, lateral: bool = False
) -> Select[tuple[int]]:
    """The seqs of the tenant's events with this digest (of one field path and value).

    A loose index scan: a recursive CTE steps from one bucket of the tenant to the next
    (one seek each, skipping the buckets it has no rows in) and each bucket is probed for
    the digest. Buckets before ``after_seq`` are skipped. ``lateral`` (PostgreSQL) makes
    the probes a LATERAL subquery: given a join, its planner scans all the tenant's rows
    for the digest instead (4x slower at 50,000 events, and growing with them); SQLite's
    probes each bucket either way and has no LATERAL.
    """
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
    probe = select(table.c.event_seq).where(
        table.c.tenant_id == tenant_id,
        table.c.bucket == buckets.c.bucket,
        table.c.digest == digest,
    )
    if not lateral:
        return probe
    # OFFSET 0 is a fence: PostgreSQL would flatten the subquery back into a join
    fenced = probe.offset(0).lateral("blind_probe")
    return select(fenced.c.event_seq).select_from(buckets).join(fenced, true())
