"""The relational schema. Every tenant-owned table carries ``tenant_id`` as the first column
of its indexes, so tenant-scoped queries (the only kind the repositories issue) stay cheap.

Timestamps are stored as naive UTC and handed back timezone-aware, the same on SQLite
(which has no time zones) and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# events per blind-index bucket (1,024): the pages of the newest bucket's rows are where a
# batch's inserts land, and a lookup seeks each bucket. Stored in the rows: changing it
# needs a migration (0005 made it 10 from 12).
BLIND_INDEX_BUCKET_BITS = 10


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class TenantRow(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(128))
    plan: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """API keys are 256-bit random tokens, so a plain SHA-256 is the right hash: it cannot be
    brute-forced and it can be looked up by index (a slow password hash could not)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(64), default="default")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class EventRow(Base):
    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    event_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(63))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    content_id: Mapped[str | None] = mapped_column(String(128))
    max_severity: Mapped[int | None] = mapped_column(Integer)  # Severity.rank of its worst hit
    payload: Mapped[dict[str, Any]]  # protected fields hold ciphertext, never plaintext
    key_version: Mapped[int | None] = mapped_column(Integer)  # None: nothing encrypted
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id", name="uq_events_tenant_event"),
        Index("ix_events_tenant_time", "tenant_id", "occurred_at"),
        Index("ix_events_tenant_type_seq", "tenant_id", "type", "seq"),
        Index("ix_events_tenant_key_version", "tenant_id", "key_version"),
    )


class BlindIndexRow(Base):
    """Equality lookups on encrypted fields.

    The digest is the blind index's HMAC (:mod:`ott_runtime.crypto.fields`), truncated to
    16 bytes and stored as bytes. The HMAC input holds the tenant and the field path, so a
    digest names its field as well as its value: the row needs no path column.

    The key leads with ``bucket`` (the event's seq shifted right by
    :data:`BLIND_INDEX_BUCKET_BITS`): a batch's rows land in the newest bucket's few pages
    instead of one random page each across the whole index. On SQLite every page a
    transaction dirties is written to the WAL at commit and again at the checkpoint, which
    made random digests the dearest part of an encrypted ingest. A lookup seeks each of the
    tenant's buckets in turn (:func:`blind_index_matches`). No surrogate id, on SQLite no
    rowid table, and no foreign key or index on the event (each cost about as much as the
    row itself): retention deletes an event's rows by its bucket, and a lookup joins the
    events, so a row whose event is gone is never returned."""

    __tablename__ = "event_blind_indexes"
    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    __table_args__ = ({"sqlite_with_rowid": False},)


class ViolationRow(Base):
    __tablename__ = "violations"
    # no foreign key to events: violations are kept longer than events (spec.retention)
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(63))
    regulation: Mapped[str] = mapped_column(String(63))
    rule_id: Mapped[str] = mapped_column(String(63))
    severity: Mapped[str] = mapped_column(String(16))
    severity_rank: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(256))
    content_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    ack_note: Mapped[str | None] = mapped_column(String(1024))
    __table_args__ = (
        Index("ix_violations_tenant_seq", "tenant_id", "seq"),
        Index("ix_violations_tenant_time", "tenant_id", "occurred_at"),
    )


class RiskScoreRow(Base):
    __tablename__ = "risk_scores"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(128))
    score: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(63))
    explanation: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    __table_args__ = (
        Index("ix_risk_tenant_time", "tenant_id", "created_at"),
        Index("ix_risk_tenant_event", "tenant_id", "event_id"),
        Index("ix_risk_event", "event_seq"),  # cascading deletes from events
    )


class ViolationHourRow(Base):
    """Violations per hour, region (the event's geo.country), content and rule: what the
    dashboard's heatmap, network graph and forecast read instead of joining violations to
    events. Kept in the ingest transaction (:mod:`ott_runtime.storage.rollups`); the key
    is the clustered primary key, so a tenant's hours are one range scan."""

    __tablename__ = "violation_hourly"
    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(128), primary_key=True)
    content_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # "unknown": none
    regulation: Mapped[str] = mapped_column(String(63), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = ({"sqlite_with_rowid": False},)


class ViolationRegionHourRow(Base):
    """The same counts by hour and region only: the heatmap's and the forecast's grain,
    a few rows an hour whatever the number of contents and rules."""

    __tablename__ = "violation_hourly_regions"
    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(128), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = ({"sqlite_with_rowid": False},)


class UsageRow(Base):
    __tablename__ = "usage_hourly"
    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    api_calls: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    rule_evaluations: Mapped[int] = mapped_column(BigInteger, default=0)


class NotificationRow(Base):
    """Outbox of push notifications (webhooks), written in the ingest transaction so that
    none is lost on a crash; a delivery worker sends them and records the outcome.
    ``delivery_id`` is the idempotency key receivers see on every attempt."""

    __tablename__ = "notification_outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # violation | risk.alert
    url: Mapped[str] = mapped_column(String(2048))
    secret_name: Mapped[str] = mapped_column(String(253))
    secret_key: Mapped[str] = mapped_column(String(253))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1024))
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_tenant_status", "tenant_id", "status", "id"),
    )
