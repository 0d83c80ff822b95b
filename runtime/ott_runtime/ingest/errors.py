"""Errors the ingest path raises; the API turns them into RFC 9457 problem documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one event: its index in the batch and the field path."""

    index: int | None
    field: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass
class IngestError(Exception):
    status: int
    title: str
    detail: str
    problems: list[FieldProblem] = field(default_factory=list)
    type_slug: str = "invalid-events"

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"
