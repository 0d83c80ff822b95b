"""What a committed ingest announces on the broker (the live stream, webhooks' wake-up,
the cross-replica fan-out), and the JSON form of a stored violation that the API, the
stream's replay and the webhooks share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ott_runtime.ingest.pubsub import Broker, Message
from ott_runtime.storage import NewEvent
from ott_runtime.telemetry import attributes as attr
from ott_runtime.telemetry import current_traceparent, start_span


def batch_messages(
    tenant: str,
    events: Sequence[NewEvent],
    seqs: Mapping[str, int],
    violations: Sequence[tuple[dict[str, Any], Any]],
    risks: Sequence[tuple[dict[str, Any], int]],
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


def risk_json(score: Any) -> dict[str, Any]:
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


def violation_json(row: Any) -> dict[str, Any]:
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
