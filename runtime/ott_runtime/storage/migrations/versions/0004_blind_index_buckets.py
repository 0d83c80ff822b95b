"""event_blind_indexes: bytes digests under a sequence bucket, no field path column

Revision ID: 0004
Revises: 0003

The rows are rebuilt in the new table: the digest's hex becomes its bytes, the bucket is
the event's seq shifted by 12 bits (BLIND_INDEX_BUCKET_BITS when this was written; the
number is fixed here on purpose). A digest that is not hex was never written by the
runtime and can match no lookup; it is left out.

Downgrading restores the old layout and hex digests, but not the field path, which the
new rows do not keep (the digest is bound to it): the old lookups filter on the path, so
rows converted back are found again only after upgrading.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLE = "event_blind_indexes"
_OLD = "event_blind_indexes_0003"
_BITS = 12
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_SEQS_PER_STEP = 5_000


def _seq_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _move_aside(dialect: str) -> None:
    """Renames the current table, and on PostgreSQL its key's index and foreign key, whose
    names the new table's take. Its event index goes with it and is dropped with it."""
    op.rename_table(_TABLE, _OLD)
    if dialect == "postgresql":  # the new table's constraints then get the usual names
        op.execute(f"ALTER INDEX {_TABLE}_pkey RENAME TO {_OLD}_pkey")
        op.execute(
            f"ALTER TABLE {_OLD} RENAME CONSTRAINT {_TABLE}_event_seq_fkey TO {_OLD}_event_seq_fkey"
        )


def _copy_sqlite(insert_new: str, convert: Callable[[Any], tuple[Any, ...] | None]) -> None:
    """Through Python, a range of event seqs at a time (SQLite 3.40 has no unhex())."""
    connection = op.get_bind()
    low, high = connection.exec_driver_sql(
        f"SELECT min(event_seq), max(event_seq) FROM {_OLD}"
    ).one()
    if low is None:
        return
    select_old = (
        f"SELECT tenant_id, digest, event_seq FROM {_OLD} WHERE event_seq >= ? AND event_seq < ?"
        " AND EXISTS (SELECT 1 FROM events WHERE seq = event_seq)"  # orphans: no lookup finds them
    )
    for start in range(low, high + 1, _SEQS_PER_STEP):
        rows = connection.exec_driver_sql(select_old, (start, start + _SEQS_PER_STEP)).all()
        converted = [row for row in map(convert, rows) if row is not None]
        if converted:
            connection.exec_driver_sql(insert_new, converted)


def _to_bytes(row: Any) -> tuple[str, int, bytes, int] | None:
    tenant, digest, seq = row
    if not _HEX.fullmatch(digest):
        return None
    return tenant, seq >> _BITS, bytes.fromhex(digest), seq


def _to_hex(row: Any) -> tuple[str, str, str, int]:
    tenant, digest, seq = row
    return tenant, "", bytes(digest).hex(), seq


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _move_aside(dialect)
    op.create_table(
        _TABLE,
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("event_seq", _seq_type(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", "digest", "event_seq"),
        sqlite_with_rowid=False,
    )
    if dialect == "sqlite":
        _copy_sqlite(
            f"INSERT OR IGNORE INTO {_TABLE} VALUES (?, ?, ?, ?)",
            _to_bytes,
        )
    else:
        op.execute(
            f"INSERT INTO {_TABLE} (tenant_id, bucket, digest, event_seq) "
            f"SELECT {_OLD}.tenant_id, event_seq >> {_BITS}, decode(digest, 'hex'), event_seq "
            f"FROM {_OLD} JOIN events ON events.seq = event_seq "
            f"WHERE digest ~ '^([0-9a-fA-F]{{2}})+$' ON CONFLICT DO NOTHING"
        )
    op.drop_table(_OLD)
    op.create_index("ix_blind_event", _TABLE, ["event_seq"])


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _move_aside(dialect)
    op.create_table(
        _TABLE,
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("field_path", sa.String(length=253), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("event_seq", _seq_type(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "field_path", "digest", "event_seq"),
        sqlite_with_rowid=False,
    )
    if dialect == "sqlite":
        _copy_sqlite(
            f"INSERT OR IGNORE INTO {_TABLE} VALUES (?, ?, ?, ?)",
            _to_hex,
        )
    else:
        op.execute(
            f"INSERT INTO {_TABLE} (tenant_id, field_path, digest, event_seq) "
            f"SELECT {_OLD}.tenant_id, '', encode(digest, 'hex'), event_seq FROM {_OLD} "
            "JOIN events ON events.seq = event_seq ON CONFLICT DO NOTHING"
        )
    op.drop_table(_OLD)
    op.create_index("ix_blind_event", _TABLE, ["event_seq"])
