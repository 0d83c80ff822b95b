"""A platform's own event fields: typed extensions a RegulationSet or a tenant declares.

Our event schemas are strict (an unknown field is refused at ingest), but every platform
carries attributes we cannot foresee. ``spec.eventSchema.extensions`` declares them::

    eventSchema:
      extensions:
      - {path: viewer.profileType, type: string, enum: [adult, teen, kids]}
      - {path: content.genre, type: string, eventTypes: [playback.start]}

A declared field is validated on ingest as strictly as ours (type, enum), readable by rules
and aggregates, and can be encrypted or made searchable like any other. Its parent must be
an object our schema has (``viewer``, ``content``, ``content.licence``...) and its name new.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from ott_runtime.domain.base import StrictModel

EXTENSION_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
ExtensionPath = Annotated[str, StringConstraints(max_length=253, pattern=EXTENSION_PATH_PATTERN)]
MAX_EXTENSIONS = 64


class ExtensionType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING_LIST = "stringList"


# the JSON Schema "type" of each (the field tree and the published schemas use it)
JSON_TYPES = {
    ExtensionType.STRING: "string",
    ExtensionType.NUMBER: "number",
    ExtensionType.INTEGER: "integer",
    ExtensionType.BOOLEAN: "boolean",
    ExtensionType.STRING_LIST: "array",
}


class EventExtension(StrictModel):
    path: ExtensionPath = Field(
        description="Dotted path of the field, under an object the event schema has "
        "(e.g. viewer.profileType, content.genre)."
    )
    type: ExtensionType = Field(
        strict=False,
        description="string, number, integer, boolean or stringList (a list of strings).",
    )
    enum: list[Annotated[str, StringConstraints(max_length=1024)]] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The only values allowed (for string and stringList).",
    )
    event_types: list[Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=list,
        max_length=16,
        description="Event types that may carry it (default: every type with its parent).",
    )
    max_length: int = Field(
        default=1024, ge=1, le=65536, description="Longest string (or list) accepted."
    )
    description: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _enum_fits_type(self) -> EventExtension:
        if self.enum is not None and self.type not in (
            ExtensionType.STRING,
            ExtensionType.STRING_LIST,
        ):
            raise ValueError("enum: only a string or stringList field takes an enum")
        return self

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this field, or None."""
        kind = self.type
        if kind is ExtensionType.BOOLEAN:
            ok = isinstance(value, bool)
        elif kind is ExtensionType.INTEGER:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is ExtensionType.NUMBER:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif kind is ExtensionType.STRING:
            ok = isinstance(value, str) and len(value) <= self.max_length
        else:
            ok = (
                isinstance(value, list)
                and len(value) <= self.max_length
                and all(isinstance(v, str) and len(v) <= self.max_length for v in value)
            )
        if not ok:
            return f"expected {kind.value} (declared in spec.eventSchema.extensions)"
        values = value if isinstance(value, list) else [value]
        if self.enum is not None and any(v not in self.enum for v in values):
            allowed = ", ".join(map(str, self.enum))
            return f"not one of the declared values: {allowed}"
        return None


class EventSchemaSpec(StrictModel):
    extensions: list[EventExtension] = Field(
        default_factory=list,
        max_length=MAX_EXTENSIONS,
        description="The platform's own event fields, typed: accepted on ingest and "
        "readable by rules.",
    )


class ExtensionConflict(ValueError):
    pass


def merge_extensions(
    declared: Iterable[tuple[str, Iterable[EventExtension]]],
) -> dict[str, EventExtension]:
    """Extensions by path from several declarers (tenant, sets); the same path declared
    twice must agree, else ExtensionConflict names both."""
    merged: dict[str, EventExtension] = {}
    owner: dict[str, str] = {}
    for who, extensions in declared:
        for extension in extensions:
            known = merged.get(extension.path)
            if known is not None and known != extension:
                raise ExtensionConflict(
                    f"event field {extension.path!r} is declared differently by "
                    f"{owner[extension.path]} and {who}"
                )
            merged[extension.path] = extension
            owner.setdefault(extension.path, who)
    return merged


def applies_to(extension: EventExtension, event_type: str) -> bool:
    return not extension.event_types or event_type in extension.event_types


def extensions_for(
    extensions: Mapping[str, EventExtension], event_type: str
) -> tuple[EventExtension, ...]:
    return tuple(e for e in extensions.values() if applies_to(e, event_type))


def extension_json_schema(extension: EventExtension) -> dict[str, Any]:
    """The JSON Schema of one declared field (marked ``x-ottc-extension``)."""
    if extension.type is ExtensionType.STRING_LIST:
        items: dict[str, Any] = {"type": "string", "maxLength": extension.max_length}
        if extension.enum is not None:
            items["enum"] = list(extension.enum)
        schema: dict[str, Any] = {"type": "array", "items": items, "maxItems": extension.max_length}
    else:
        schema = {"type": JSON_TYPES[extension.type]}
        if extension.type is ExtensionType.STRING:
            schema["maxLength"] = extension.max_length
        if extension.enum is not None:
            schema["enum"] = list(extension.enum)
    if extension.description:
        schema["description"] = extension.description
    schema["x-ottc-extension"] = True
    return schema


def _object_at(schema: dict[str, Any], node: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The object schema of property ``name`` of ``node`` (through anyOf and $ref)."""
    target = node.get("properties", {}).get(name)
    while isinstance(target, dict):
        if "$ref" in target:
            target = schema.get("$defs", {}).get(target["$ref"].rsplit("/", 1)[-1])
        elif "anyOf" in target:
            target = next((v for v in target["anyOf"] if v.get("type") != "null"), None)
        else:
            return target if target.get("type") == "object" else None
    return None


def with_extensions(
    schema: Mapping[str, Any], event_type: str, extensions: Mapping[str, EventExtension]
) -> dict[str, Any]:
    """An event type's JSON Schema with a tenant's declared fields added where they go."""
    merged: dict[str, Any] = copy.deepcopy(dict(schema))
    for extension in extensions_for(extensions, event_type):
        *parents, leaf = extension.path.split(".")
        node: dict[str, Any] | None = merged
        for name in parents:
            node = _object_at(merged, node, name) if node is not None else None
        if node is not None:
            node.setdefault("properties", {})[leaf] = extension_json_schema(extension)
    return merged
