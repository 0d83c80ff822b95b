"""GET /v1/schemas/events and /v1/schemas/events/{type}: the event types, and each one's
JSON Schema with the tenant's declared extension fields."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from ott_runtime.api.schemas.common import examples

EXTENSION_EXAMPLE: dict[str, Any] = {
    "path": "viewer.profileType",
    "type": "string",
    "enum": ["adult", "teen", "kids"],
    "eventTypes": [],
    "maxLength": 1024,
}


@examples({"specVersion": "1", "types": ["ad.impression"], "extensions": [EXTENSION_EXAMPLE]})
class EventTypes(TypedDict):
    specVersion: str
    types: list[str]
    extensions: list[dict[str, Any]]


# JSON Schema's own keys start with "$": the functional form of TypedDict names them
EventJsonSchema = TypedDict(
    "EventJsonSchema",
    {
        "$schema": str,
        "$id": str,
        "title": str,
        "type": str,
        "properties": dict[str, Any],
        "required": list[str],
        "additionalProperties": bool,
        "$defs": dict[str, Any],
    },
    total=False,
)
EventJsonSchema.__doc__ = (
    "A JSON Schema (draft 2020-12) of one event type; fields the tenant declared in "
    "spec.eventSchema.extensions carry x-ottc-extension: true."
)
