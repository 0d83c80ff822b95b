"""violation_hourly(_regions): the dashboard's hourly violation rollups, filled from stored rows

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# the rows stored before this revision, each violation with its event's region ("unknown"
# when retention removed the event); hours in SQLAlchemy's own DateTime form
_BACKFILL = """
INSERT INTO violation_hourly (tenant_id, hour, region, content_id, regulation, rule_id, count)
SELECT v.tenant_id, {hour}, COALESCE({region}, 'unknown'), COALESCE(v.content_id, 'unknown'),
       v.regulation, v.rule_id, COUNT(*)
FROM violations AS v LEFT JOIN events AS e ON e.seq = v.event_seq
GROUP BY v.tenant_id, {hour}, COALESCE({region}, 'unknown'),
         COALESCE(v.content_id, 'unknown'), v.regulation, v.rule_id
"""
_BACKFILL_REGIONS = """
INSERT INTO violation_hourly_regions (tenant_id, hour, region, count)
SELECT tenant_id, hour, region, SUM(count) FROM violation_hourly
GROUP BY tenant_id, hour, region
"""
_DIALECT = {
    "sqlite": {
        "hour": r"strftime('%Y-%m-%d %H\:00\:00.000000', v.occurred_at)",  # \: not a bind
        "region": "json_extract(e.payload, '$.geo.country')",
    },
    "postgresql": {
        "hour": "date_trunc('hour', v.occurred_at)",
        "region": "e.payload -> 'geo' ->> 'country'",
    },
}


def upgrade() -> None:
    op.create_table(
        "violation_hourly",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=False),
        sa.Column("content_id", sa.String(length=128), nullable=False),
        sa.Column("regulation", sa.String(length=63), nullable=False),
        sa.Column("rule_id", sa.String(length=63), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "hour", "region", "content_id", "regulation", "rule_id"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "violation_hourly_regions",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hour", "region"),
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    if dialect in _DIALECT:
        op.execute(sa.text(_BACKFILL.format(**_DIALECT[dialect])))
        op.execute(sa.text(_BACKFILL_REGIONS))


def downgrade() -> None:
    op.drop_table("violation_hourly_regions")
    op.drop_table("violation_hourly")
