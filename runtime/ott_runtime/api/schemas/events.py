"""POST /v1/events (the ingest answer) and GET /v1/events (stored events)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from ott_runtime.api.schemas.common import Cursor, InstantText, SeverityName, examples
from ott_runtime.ingest.publishing import VIOLATION_EXAMPLE, RiskScore, Violation

INGEST_EXAMPLE: dict[str, Any] = {
    "accepted": 1,
    "duplicates": [],
    "violations": [VIOLATION_EXAMPLE],
    "risk": [],
}


@examples(INGEST_EXAMPLE)
class IngestAnswer(TypedDict):
    """What POST /v1/events answers (200): every accepted event is committed."""

    accepted: Annotated[int, Field(description="Events stored by this request.")]
    duplicates: Annotated[
        list[str], Field(description="Ids already stored earlier (not stored again).")
    ]
    violations: Annotated[
        list[Violation], Field(description="Violations the accepted events raised.")
    ]
    risk: Annotated[list[RiskScore], Field(description="Risk scores of the accepted events.")]


@examples({"score": 0.93, "model": "risk-ensemble@3"})
class EventRisk(TypedDict):
    """The risk score a model gave the event (the full score: the ingest answer)."""

    score: float
    model: str


@examples({"field": "viewer.id", "reason": "authentication failed"})
class IntegrityError(TypedDict):
    """A protected field that could not be opened (left as ciphertext in ``event``)."""

    field: str
    reason: str


STORED_EVENT_EXAMPLE: dict[str, Any] = {
    "id": "evt-0001",
    "type": "ad.impression",
    "occurredAt": "2026-11-26T20:15:00+00:00",
    "receivedAt": "2026-11-26T20:15:00.398000+00:00",
    "contentId": "show-7",
    "maxSeverity": "critical",
    "risk": None,
    "keyVersion": 1,
    "event": {
        "specVersion": "1",
        "id": "evt-0001",
        "type": "ad.impression",
        "time": "2026-11-26T20:15:00Z",
        "viewer": {"id": "viewer-42", "isKidsProfile": True, "age": 9},
        "content": {"id": "show-7", "channelId": "kids-1"},
        "ad": {"id": "ad-9", "durationSeconds": 30, "targeted": True},
    },
    "integrityErrors": [],
}


@examples(STORED_EVENT_EXAMPLE)
class StoredEvent(TypedDict):
    """A stored event; its protected fields are decrypted for the tenant."""

    id: str
    type: str
    occurredAt: InstantText
    receivedAt: InstantText
    contentId: str | None
    maxSeverity: Annotated[
        SeverityName | None, Field(description="Its most severe violation, if any.")
    ]
    risk: EventRisk | None
    keyVersion: Annotated[
        int | None, Field(description="Key version of its protected fields (null: none).")
    ]
    event: Annotated[dict[str, Any], Field(description="The event document as sent.")]
    integrityErrors: list[IntegrityError]


@examples({"items": [STORED_EVENT_EXAMPLE], "nextCursor": None})
class EventPage(TypedDict):
    """A page of stored events, oldest first."""

    items: list[StoredEvent]
    nextCursor: Cursor
