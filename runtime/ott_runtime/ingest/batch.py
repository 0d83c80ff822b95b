"""Parsing and validating one ingest request body into plain event dicts.

Checks run cheapest first: size, JSON syntax, batch shape and count, then each event's
envelope (id, type, time), duplicate ids within the batch, and finally the event
type's own schema. Every problem names the event index and the field path. The event
model bounds every string, list and nesting level and forbids unknown fields, so a
valid batch has a known worst-case size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ott_runtime.ingest.errors import FieldProblem, IngestError
from ott_runtime.ingest.limits import (
    MAX_BODY_BYTES,
    MAX_EVENT_ID_LENGTH,
    MAX_EVENTS_PER_BATCH,
)

EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
MAX_PROBLEMS = 50

# type -> validator: the event in its normalised form, or the (field path, message) problems.
# ott_runtime.ingest.schemas builds them from the event model (ott_runtime.domain.events).
TypeValidator = Callable[[Mapping[str, Any]], "dict[str, Any] | list[tuple[str, str]]"]


@dataclass(frozen=True)
class ValidEvent:
    index: int
    id: str
    type: str
    occurred_at: datetime
    body: dict[str, Any]

    @property
    def content_id(self) -> str | None:
        content = self.body.get("content")
        value = content.get("id") if isinstance(content, dict) else None
        return str(value) if value is not None else None


def parse_body(body: bytes) -> list[Any]:
    if len(body) > MAX_BODY_BYTES:
        raise IngestError(
            413,
            "Request body too large",
            f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES} (1 MiB)",
            type_slug="body-too-large",
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise IngestError(
            400,
            "Malformed JSON",
            f"the body is not valid JSON: {error}",
            type_slug="malformed-json",
        ) from None
    events = document.get("events") if isinstance(document, dict) else document
    if not isinstance(events, list):
        raise IngestError(
            422,
            "Not an event batch",
            'send a JSON array of events or an object {"events": [...]}',
            [FieldProblem(None, "events", "expected an array of events")],
        )
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise IngestError(
            413,
            "Too many events",
            f"the batch holds {len(events)} events; the limit is {MAX_EVENTS_PER_BATCH}",
            [FieldProblem(MAX_EVENTS_PER_BATCH, "events", "first event over the limit")],
            type_slug="batch-too-large",
        )
    if not events:
        raise IngestError(
            422, "Empty batch", "the batch holds no events", [FieldProblem(None, "events", "empty")]
        )
    return events


def _envelope(
    index: int, raw: Any, problems: list[FieldProblem]
) -> tuple[str, str, datetime] | None:
    if not isinstance(raw, dict):
        problems.append(
            FieldProblem(index, "", f"an event must be a JSON object, not {type(raw).__name__}")
        )
        return None
    found = len(problems)
    event_id, event_type, stamp = raw.get("id"), raw.get("type"), raw.get("time")
    if not isinstance(event_id, str) or not event_id:
        problems.append(FieldProblem(index, "id", "required: a non-empty string"))
    elif len(event_id) > MAX_EVENT_ID_LENGTH or not EVENT_ID.match(event_id):
        problems.append(
            FieldProblem(index, "id", f"at most {MAX_EVENT_ID_LENGTH} of A-Z a-z 0-9 . _ : @ / -")
        )
    if not isinstance(event_type, str) or not event_type:
        problems.append(
            FieldProblem(index, "type", "required: an event type such as playback.start")
        )
    occurred: datetime | None = None
    if not isinstance(stamp, str):
        problems.append(FieldProblem(index, "time", "required: an RFC 3339 time with offset"))
    else:
        try:
            occurred = datetime.fromisoformat(stamp)
        except ValueError:
            occurred = None
        if occurred is None or occurred.tzinfo is None:
            problems.append(
                FieldProblem(
                    index,
                    "time",
                    "not an RFC 3339 time with offset, e.g. 2026-01-01T12:00:00Z",
                )
            )
    if len(problems) > found or occurred is None:
        return None
    assert isinstance(event_id, str)
    assert isinstance(event_type, str)
    return event_id, event_type, occurred


def validate_batch(events: list[Any], validators: Mapping[str, TypeValidator]) -> list[ValidEvent]:
    """All events valid, or an IngestError (422) listing the problems: one bad event
    rejects the batch, so a client fixes and resends it whole (ids make that safe)."""
    problems: list[FieldProblem] = []
    valid: list[ValidEvent] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(events):
        envelope = _envelope(index, raw, problems)
        if envelope is None:
            continue
        event_id, event_type, occurred = envelope
        if event_id in first_index:
            problems.append(
                FieldProblem(
                    index, "id", f"duplicate of event {first_index[event_id]} in this batch"
                )
            )
            continue
        first_index[event_id] = index
        validator = validators.get(event_type)
        if validator is None:
            known = ", ".join(sorted(validators))
            problems.append(
                FieldProblem(index, "type", f"unknown event type {event_type!r}; known: {known}")
            )
            continue
        checked = validator(raw)
        if isinstance(checked, list):
            problems.extend(FieldProblem(index, path, message) for path, message in checked)
        else:
            valid.append(ValidEvent(index, event_id, event_type, occurred, checked))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        shown = problems[:MAX_PROBLEMS]
        raise IngestError(
            422,
            "Invalid events",
            f"{len(shown)} problem(s) in the batch; nothing from it was stored",
            shown,
        )
    return valid
