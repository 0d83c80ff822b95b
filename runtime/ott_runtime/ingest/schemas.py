"""Per-type validators built from the event model (``ott_runtime.domain.events``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ott_runtime.domain.events import EVENT_MODELS, EventBase, to_rule_input
from ott_runtime.ingest.batch import TypeValidator


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _validator(model: type[EventBase]) -> TypeValidator:
    def validate(raw: Mapping[str, Any]) -> dict[str, Any] | list[tuple[str, str]]:
        try:
            return to_rule_input(model.model_validate(raw))
        except ValidationError as error:
            return [
                (_field_path(problem["loc"]), problem["msg"])
                for problem in error.errors(include_url=False, include_input=False)
            ]

    return validate


def event_validators() -> dict[str, TypeValidator]:
    """One validator per event type; each returns the normalised event (the JSON form the
    rules read and the database stores) or the problems with their field paths."""
    return {event_type: _validator(model) for event_type, model in EVENT_MODELS.items()}
