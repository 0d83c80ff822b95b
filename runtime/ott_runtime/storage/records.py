"""What the ingest hands the repositories, what they hand back from a write, and the
queries they take: plain frozen records, no ORM state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewEvent:
    event_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    content_id: str | None
    payload: dict[str, Any]
    key_version: int | None
    max_severity: int | None = None
    blind_indexes: dict[str, bytes] = field(default_factory=dict)  # path -> digest


@dataclass(frozen=True)
class NewViolation:
    event_id: str
    event_type: str
    regulation: str
    rule_id: str
    severity: str
    severity_rank: int
    message: str
    reference: str
    content_id: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class NewRiskScore:
    event_id: str
    score: float
    model: str
    explanation: dict[str, Any]


@dataclass(frozen=True)
class EventQuery:
    types: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    content_id: str | None = None
    min_severity: int | None = None
    blind_index: tuple[str, bytes] | None = None  # (field path, digest)
    after_seq: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class ViolationQuery:
    since: datetime | None = None
    until: datetime | None = None
    min_severity: int | None = None
    regulation: str | None = None
    rule_id: str | None = None
    content_id: str | None = None
    acknowledged: bool | None = None
    after_seq: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class StoredViolation:
    """A violation as the ingest just stored it: the columns of ``ViolationRow`` (what
    ``violation_json``, the stream and the webhooks read), without building an ORM object
    per violation in the hot path."""

    id: str
    tenant_id: str
    seq: int
    event_seq: int
    event_id: str
    event_type: str
    regulation: str
    rule_id: str
    severity: str
    severity_rank: int
    message: str
    reference: str
    content_id: str | None
    occurred_at: datetime
    created_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None
