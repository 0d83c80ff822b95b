"""What a committed ingest announces on the broker (the live stream, webhooks' wake-up,
the cross-replica fan-out), and the JSON form of a stored violation that the API, the
stream's replay and the webhooks share.

The JSON forms are declared as TypedDicts next to the functions that build them, so the
builders are type-checked against them (no copy to drift) and the REST API's response
schemas (:mod:`ott_runtime.api.schemas`) are generated from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from ott_runtime.domain.regulation import Severity
from ott_runtime.ingest.pubsub import Broker, Message
from ott_runtime.storage import NewEvent
from ott_runtime.telemetry import attributes as attr
from ott_runtime.telemetry import current_traceparent, start_span

# Text kept as built (validating them as datetimes or enums would re-render them),
# documented as what it is.
InstantText = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
SeverityName = Annotated[
    str, WithJsonSchema({"type": "string", "enum": [s.value for s in Severity]})
]

VIOLATION_EXAMPLE: dict[str, Any] = {
    "id": "7d1c2f7e-3c1b-4c4e-9a55-0c3f4f3c2a10",
    "eventId": "evt-0001",
    "eventType": "ad.impression",
    "regulation": "coppa",
    "ruleId": "targeted-ad-to-child",
    "severity": "critical",
    "message": "Targeted ad shown to a child",
    "reference": "16 CFR 312.5",
    "contentId": "show-7",
    "occurredAt": "2026-11-26T20:15:00+00:00",
    "createdAt": "2026-11-26T20:15:00.412000+00:00",
    "acknowledged": False,
    "acknowledgedAt": None,
    "acknowledgedBy": None,
    "note": None,
}


@with_config(ConfigDict(extra="allow", json_schema_extra={"examples": [VIOLATION_EXAMPLE]}))
class Violation(TypedDict):
    """A rule that held for an event: on REST, the stream's ``violations`` channel and in
    webhooks (the stream adds ``seq``, its resume cursor)."""

    id: str
    eventId: str
    eventType: str
    regulation: str
    ruleId: str
    severity: SeverityName
    message: str
    reference: str
    contentId: str | None
    occurredAt: InstantText
    createdAt: InstantText
    acknowledged: bool
    acknowledgedAt: InstantText | None
    acknowledgedBy: str | None
    note: Annotated[str | None, Field(description="The acknowledgement's note.")]


@with_config(
    ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "eventId": "evt-0001",
                    "score": 0.93,
                    "model": "risk-ensemble@3",
                    "explanation": {
                        "transformerRisk": 0.91,
                        "sessionModel": "session-risk@3",
                        "alert": True,
                        "threshold": 0.8,
                    },
                }
            ]
        },
    )
)
class RiskScore(TypedDict):
    """A model's risk score for one event (the stream's ``alerts`` add ``seq``)."""

    eventId: str
    score: Annotated[float, Field(description="From 0 (none) to 1.")]
    model: str
    explanation: Annotated[dict[str, Any], Field(description="Why, as the model says it.")]


def batch_messages(
    tenant: str,
    events: Sequence[NewEvent],
    seqs: Mapping[str, int],
    violations: Sequence[tuple[Violation, Any]],
    risks: Sequence[tuple[RiskScore, int]],
    *,
    notified: bool = False,
) -> list[Message]:
    """One message per stored event, violation (its JSON with the stored row) and risk
    score (its JSON with the row id), in id order per topic; ``notified``: the other
    replicas get them from the ingest transaction itself."""
    # lets a live client find the trace of the ingest that produced a message
    traceparent = current_traceparent()
    trace = {"traceparent": traceparent} if traceparent else {}
    # "seq": the stored row's monotonic id, the live stream's resume cursor
    messages = [  # protected fields stay ciphertext even on the live stream
        Message(tenant, "events", {**event_message(seqs[event.event_id], event), **trace}, notified)
        for event in events
    ]
    messages.extend(
        Message(tenant, "violations", {"seq": row.seq, **violation, **trace}, notified)
        for violation, row in violations
    )
    messages.extend(
        Message(tenant, "risk", {"seq": risk_id, **risk, **trace}, notified)
        for risk, risk_id in risks
    )
    return messages


def publish_batch(broker: Broker, tenant: str, messages: Sequence[Message]) -> None:
    """Announce a committed batch's messages; call only after the commit."""
    with start_span(
        "ottc.stream.publish", {attr.TENANT: tenant, attr.MESSAGE_COUNT: len(messages)}
    ):
        for message in messages:
            broker.publish(message)


def event_message(seq: int, event: Any) -> dict[str, Any]:
    """An event on the live stream, live or replayed (a NewEvent or a stored EventRow)."""
    return {
        "seq": seq,
        "id": event.event_id,
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "contentId": event.content_id,
    }


def risk_json(score: Any) -> RiskScore:
    """A risk score as the API answers it (a NewRiskScore or a stored RiskScoreRow)."""
    return {
        "eventId": score.event_id,
        "score": score.score,
        "model": score.model,
        "explanation": score.explanation,
    }


def risk_message(seq: int, score: Any) -> dict[str, Any]:
    """A risk score on the live stream, live or replayed."""
    return {"seq": seq, **risk_json(score)}


def violation_json(row: Any) -> Violation:
    return {
        "id": row.id,
        "eventId": row.event_id,
        "eventType": row.event_type,
        "regulation": row.regulation,
        "ruleId": row.rule_id,
        "severity": row.severity,
        "message": row.message,
        "reference": row.reference,
        "contentId": row.content_id,
        "occurredAt": row.occurred_at.isoformat(),
        "createdAt": row.created_at.isoformat(),
        "acknowledged": row.acknowledged_at is not None,
        "acknowledgedAt": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledgedBy": row.acknowledged_by,
        "note": row.ack_note,
    }
