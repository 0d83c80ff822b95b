"""What the response schemas share: how a shape and its examples are declared, cursors,
text types, and the operation ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi.routing import APIRoute
from pydantic import ConfigDict, Field, with_config

from ott_runtime.ingest.publishing import InstantText, SeverityName

__all__ = [
    "Cursor",
    "InstantText",
    "SeverityName",
    "examples",
    "keep_examples",
    "operation_id",
    "restore_example_nulls",
]

ShapeT = TypeVar("ShapeT", bound=type)
# the examples of every shape by its name, the name of its schema component
_EXAMPLES: dict[str, list[dict[str, Any]]] = {}

Cursor = Annotated[
    str | None,
    Field(description="Pass as `cursor` to read the next page; null on the last page."),
]


def examples(*documents: dict[str, Any]) -> Callable[[ShapeT], ShapeT]:
    """Configures a response TypedDict, with its examples. ``extra="allow"``: a key a
    later /v1 adds is declared possible (additionalProperties) and is never dropped by
    the response validation, so the JSON stays exactly what the route built."""
    config = ConfigDict(extra="allow", json_schema_extra={"examples": list(documents)})

    def declare(shape: ShapeT) -> ShapeT:
        _EXAMPLES[shape.__name__] = list(documents)
        return with_config(config)(shape)

    return declare


def keep_examples(*shapes: type) -> None:
    """Shapes configured elsewhere (``ingest.publishing``) whose examples are kept too."""
    for shape in shapes:
        config = getattr(shape, "__pydantic_config__", {})
        _EXAMPLES[shape.__name__] = list(config.get("json_schema_extra", {}).get("examples", []))


def restore_example_nulls(document: dict[str, Any]) -> None:
    """FastAPI renders the OpenAPI document without its null values, inside examples too,
    so an example would lack a key that is required and null: puts them back as declared."""
    components = document.get("components", {}).get("schemas", {})
    for name, declared in _EXAMPLES.items():
        if name in components:
            components[name]["examples"] = declared


def operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name (``list_violations``), what a
    generated client names the call, instead of FastAPI's name-path-method default."""
    return route.name
