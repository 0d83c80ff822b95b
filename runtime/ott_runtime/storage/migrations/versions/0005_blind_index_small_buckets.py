"""event_blind_indexes: buckets of 1,024 events, no foreign key and no event index

Revision ID: 0005
Revises: 0004

A batch's rows land at random places within the newest bucket (they are ordered by digest
there), so the pages a commit writes grow with the bucket: 1,024 events a bucket instead of
4,096 quarter them. The foreign key to events (checked for every row inserted) and the
index on the event's seq (a second B-tree insert per row) served only deletes; retention
now deletes a removed event's rows by its bucket, and a lookup joins the events anyway, so
a row left by any other delete is never returned. Together they made an index row cost
about three times what it costs now.

The rows are copied with their bucket recomputed (the numbers 10 and 12 are fixed here on
purpose); downgrading restores 0004's buckets, key and index, leaving out rows whose event
is gone (the foreign key would refuse them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLE = "event_blind_indexes"
_OLD = "event_blind_indexes_0004"
_BITS, _OLD_BITS = 10, 12


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "event_seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
    ]


def _move_aside(*, with_foreign_key: bool) -> None:
    """Renames the current table, and on PostgreSQL the constraints whose names the new
    table's take. An event index goes with the table and is dropped with it."""
    op.rename_table(_TABLE, _OLD)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {_TABLE}_pkey RENAME TO {_OLD}_pkey")
        if with_foreign_key:
            op.execute(
                f"ALTER TABLE {_OLD} RENAME CONSTRAINT {_TABLE}_event_seq_fkey "
                f"TO {_OLD}_event_seq_fkey"
            )


def upgrade() -> None:
    _move_aside(with_foreign_key=True)
    op.create_table(
        _TABLE,
        *_columns(),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", "digest", "event_seq"),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO {_TABLE} (tenant_id, bucket, digest, event_seq) "
        f"SELECT tenant_id, event_seq >> {_BITS}, digest, event_seq FROM {_OLD}"
    )
    op.drop_table(_OLD)


def downgrade() -> None:
    _move_aside(with_foreign_key=False)
    op.create_table(
        _TABLE,
        *_columns(),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", "digest", "event_seq"),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO {_TABLE} (tenant_id, bucket, digest, event_seq) "
        f"SELECT {_OLD}.tenant_id, event_seq >> {_OLD_BITS}, digest, event_seq "
        f"FROM {_OLD} JOIN events ON events.seq = event_seq"
    )
    op.drop_table(_OLD)
    op.create_index("ix_blind_event", _TABLE, ["event_seq"])
