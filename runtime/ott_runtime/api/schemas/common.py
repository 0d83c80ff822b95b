"""What the response schemas share: how a shape is configured, cursors, text types,
and the operation ids."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.routing import APIRoute
from pydantic import ConfigDict, Field

from ott_runtime.ingest.publishing import InstantText, SeverityName

__all__ = ["Cursor", "InstantText", "SeverityName", "operation_id", "shape"]

Cursor = Annotated[
    str | None,
    Field(description="Pass as `cursor` to read the next page; null on the last page."),
]


def shape(*examples: dict[str, Any]) -> ConfigDict:
    """The config of every response TypedDict. ``extra="allow"``: a key a later /v1 adds
    is declared possible (additionalProperties) and is never dropped by the response
    validation, so the JSON stays exactly what the route built."""
    return ConfigDict(extra="allow", json_schema_extra={"examples": list(examples)})


def operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name (``list_violations``), what a
    generated client names the call, instead of FastAPI's name-path-method default."""
    return route.name
