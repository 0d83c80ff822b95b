"""Per-type validators built from the event model (``ott_runtime.domain.events``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ott_runtime.domain.event_schema import EventExtension, extensions_for
from ott_runtime.domain.events import EVENT_MODELS, EventBase, to_rule_input
from ott_runtime.ingest.batch import TypeValidator


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


UNKNOWN_FIELD = (
    "unknown field: not part of this event type's schema (GET /v1/schemas/events/<type>); "
    "a platform's own field can be declared in spec.eventSchema.extensions"
)


def _message(problem: Mapping[str, Any]) -> str:
    if problem.get("type") == "extra_forbidden":
        return UNKNOWN_FIELD
    return str(problem["msg"])


def _validator(model: type[EventBase]) -> TypeValidator:
    def validate(raw: Mapping[str, Any]) -> dict[str, Any] | list[tuple[str, str]]:
        try:
            return to_rule_input(model.model_validate(raw))
        except ValidationError as error:
            return [
                (_field_path(problem["loc"]), _message(problem))
                for problem in error.errors(include_url=False, include_input=False)
            ]

    return validate


def _taken(raw: Mapping[str, Any], names: list[str]) -> tuple[bool, Any, Mapping[str, Any]]:
    """(found, value, ``raw`` without it): copies only the objects along the path."""
    head, *rest = names
    if head not in raw:
        return False, None, raw
    if not rest:
        without = dict(raw)
        return True, without.pop(head), without
    child = raw[head]
    if not isinstance(child, Mapping):
        return False, None, raw
    found, value, child_without = _taken(child, rest)
    return (True, value, {**raw, head: child_without}) if found else (False, None, raw)


def _put(event: dict[str, Any], names: list[str], value: Any) -> None:
    for name in names[:-1]:
        event = event.setdefault(name, {})
    event[names[-1]] = value


def _with_extensions(base: TypeValidator, extensions: Sequence[EventExtension]) -> TypeValidator:
    """``base`` for an event whose declared extension fields are checked by their
    declaration and kept, while everything else meets our schema as strictly as ever."""
    declared = [(extension, extension.path.split(".")) for extension in extensions]

    def validate(raw: Mapping[str, Any]) -> dict[str, Any] | list[tuple[str, str]]:
        if not isinstance(raw, Mapping):
            return base(raw)
        problems: list[tuple[str, str]] = []
        kept: list[tuple[list[str], Any]] = []
        rest = raw
        for extension, names in declared:
            found, value, rest = _taken(rest, names)
            if not found:
                continue
            why = extension.check(value)
            if why:
                problems.append((extension.path, why))
            else:
                kept.append((names, value))
        checked = base(rest)
        if isinstance(checked, list) or problems:
            return problems + (checked if isinstance(checked, list) else [])
        for names, value in kept:
            _put(checked, names, value)
        return checked

    return validate


def event_validators(
    extensions: Mapping[str, EventExtension] | None = None,
) -> dict[str, TypeValidator]:
    """One validator per event type; each returns the normalised event (the JSON form the
    rules read and the database stores) or the problems with their field paths. With
    ``extensions`` (a tenant's declared fields), those fields are accepted too."""
    validators = {event_type: _validator(model) for event_type, model in EVENT_MODELS.items()}
    for event_type, validator in list(validators.items()):
        applicable = extensions_for(extensions or {}, event_type)
        if applicable:
            validators[event_type] = _with_extensions(validator, applicable)
    return validators
