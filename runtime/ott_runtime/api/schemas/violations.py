"""GET /v1/violations and POST /v1/violations/{id}/ack: the violation's own shape is the
one the stream and the webhooks send (:mod:`ott_runtime.ingest.publishing`)."""

from __future__ import annotations

from typing_extensions import TypedDict

from ott_runtime.api.schemas.common import Cursor, examples, keep_examples
from ott_runtime.ingest.publishing import VIOLATION_EXAMPLE, RiskScore, Violation

__all__ = ["Violation", "ViolationPage"]

keep_examples(Violation, RiskScore)


@examples({"items": [VIOLATION_EXAMPLE], "nextCursor": "czEyOA"})
class ViolationPage(TypedDict):
    """A page of violations, oldest first."""

    items: list[Violation]
    nextCursor: Cursor
