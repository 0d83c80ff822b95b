"""The REST API's response shapes, one module per resource.

Each is a TypedDict: the routes build plain JSON (no model objects in the request path),
FastAPI validates it against the shape and the OpenAPI document describes it, examples
included. The shapes the stream and the webhooks share (a violation, a risk score) are
declared beside their builders in :mod:`ott_runtime.ingest.publishing` and reused here.
"""

from ott_runtime.api.schemas.common import operation_id, restore_example_nulls
from ott_runtime.api.schemas.event_schemas import EventJsonSchema, EventTypes
from ott_runtime.api.schemas.events import EventPage, EventRisk, IngestAnswer, StoredEvent
from ott_runtime.api.schemas.operations import (
    DeadLetter,
    DeadLetterPage,
    Health,
    ModelsStatus,
    Readiness,
    Requeued,
    SeriesStatus,
)
from ott_runtime.api.schemas.reports import Analytics, Report, TimelinePoint
from ott_runtime.api.schemas.tenant import KeyStatus, Regulations, Usage
from ott_runtime.api.schemas.violations import Violation, ViolationPage
from ott_runtime.ingest.publishing import RiskScore

__all__ = [
    "Analytics",
    "DeadLetter",
    "DeadLetterPage",
    "EventJsonSchema",
    "EventPage",
    "EventRisk",
    "EventTypes",
    "Health",
    "IngestAnswer",
    "KeyStatus",
    "ModelsStatus",
    "Readiness",
    "Regulations",
    "Report",
    "Requeued",
    "RiskScore",
    "SeriesStatus",
    "StoredEvent",
    "TimelinePoint",
    "Usage",
    "Violation",
    "ViolationPage",
    "operation_id",
    "restore_example_nulls",
]
