"""initial schema: tenants, api keys, events, blind indexes, violations, risk, usage

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 14:43:51.048709
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=63), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("content_id", sa.String(length=128), nullable=True),
        sa.Column("max_severity", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_events_tenant_event"),
    )
    op.create_index("ix_events_tenant_key_version", "events", ["tenant_id", "key_version"])
    op.create_index("ix_events_tenant_time", "events", ["tenant_id", "occurred_at"])
    op.create_index("ix_events_tenant_type_seq", "events", ["tenant_id", "type", "seq"])

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "usage_hourly",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("api_calls", sa.BigInteger(), nullable=False),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("rule_evaluations", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hour"),
    )
    op.create_table(
        "violations",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=63), nullable=False),
        sa.Column("regulation", sa.String(length=63), nullable=False),
        sa.Column("rule_id", sa.String(length=63), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=256), nullable=False),
        sa.Column("content_id", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("ack_note", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_violations_tenant_seq", "violations", ["tenant_id", "seq"])
    op.create_index("ix_violations_tenant_time", "violations", ["tenant_id", "occurred_at"])

    op.create_table(
        "api_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "event_blind_indexes",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("field_path", sa.String(length=253), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column(
            "event_seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "field_path", "digest", "event_seq"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_blind_event", "event_blind_indexes", ["event_seq"])

    op.create_table(
        "risk_scores",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column(
            "event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model", sa.String(length=63), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_risk_tenant_time", "risk_scores", ["tenant_id", "created_at"])
    op.create_index("ix_risk_tenant_event", "risk_scores", ["tenant_id", "event_id"])
    op.create_index("ix_risk_event", "risk_scores", ["event_seq"])


def downgrade() -> None:
    op.drop_index("ix_risk_event", table_name="risk_scores")
    op.drop_index("ix_risk_tenant_event", table_name="risk_scores")
    op.drop_index("ix_risk_tenant_time", table_name="risk_scores")

    op.drop_table("risk_scores")
    op.drop_index("ix_blind_event", table_name="event_blind_indexes")

    op.drop_table("event_blind_indexes")
    op.drop_table("api_keys")
    op.drop_index("ix_violations_tenant_time", table_name="violations")
    op.drop_index("ix_violations_tenant_seq", table_name="violations")

    op.drop_table("violations")
    op.drop_table("usage_hourly")
    op.drop_table("tenants")
    op.drop_index("ix_events_tenant_type_seq", table_name="events")
    op.drop_index("ix_events_tenant_time", table_name="events")
    op.drop_index("ix_events_tenant_key_version", table_name="events")

    op.drop_table("events")
