"""Operating the runtime: /healthz, /readyz, GET /v1/models (which models score the
tenant's events) and the webhooks' dead letters."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from ott_runtime.api.schemas.common import Cursor, InstantText, examples


@examples({"status": "ok"})
class Health(TypedDict):
    status: Literal["ok"]


@examples({"status": "ready", "schema": "0005", "tenants": 3})
class Readiness(TypedDict):
    status: Literal["ready"]
    schema: Annotated[str | None, Field(description="The database's migration revision.")]
    tenants: Annotated[int, Field(description="Tenants served, each with its keyring.")]


@examples({"version": 3, "promoted": 3, "error": None, "state": "serving v3"})
class ModelSlot(TypedDict):
    """One model of the pair that scores events."""

    version: Annotated[int | None, Field(description="The version in service.")]
    promoted: Annotated[int | None, Field(description="The version promoted for it.")]
    error: Annotated[str | None, Field(description="Why the promoted one was refused.")]
    state: str | None


BUCKET_EXAMPLE: dict[str, Any] = {
    "minute": "2026-11-26T20:15:00Z",
    "actual": 31,
    "forecast": 29.5,
    "score": 0.12,
    "onset": 0.0,
    "alert": False,
}


@examples(BUCKET_EXAMPLE)
class SeriesBucket(TypedDict):
    """A closed minute of the events-per-minute series, scored."""

    minute: InstantText
    actual: Annotated[int, Field(description="Events counted in the minute.")]
    forecast: float
    score: float
    onset: float
    alert: bool


@examples({"enabled": False, "state": "off (spec.scoring.models.lstm is false)"})
class SeriesStatus(TypedDict):
    """The live events-per-minute detector; the keys after ``state`` while it runs."""

    enabled: Annotated[bool | None, Field(description="null: not loaded yet.")]
    state: str
    model: NotRequired[str]
    version: NotRequired[int | None]
    promoted: NotRequired[int | None]
    error: NotRequired[str | None]
    primed: NotRequired[bool]
    bucketsKnown: NotRequired[int]
    bucketsToPrime: NotRequired[int]
    openMinute: NotRequired[InstantText | None]
    lateEvents: NotRequired[int]
    latest: NotRequired[SeriesBucket | None]
    recent: NotRequired[list[SeriesBucket]]
    lastError: NotRequired[str]


@examples(
    {
        "tenant": "acme",
        "enabled": True,
        "state": "scoring",
        "models": {
            "session-risk": {
                "version": 3,
                "promoted": 3,
                "error": None,
                "state": "serving v3",
            },
        },
        "series": {"enabled": False, "state": "off (spec.scoring.models.lstm is false)"},
    },
    {
        "tenant": "acme",
        "enabled": False,
        "state": "off: this runtime has no model registry (set OTTC_MODEL_DIR)",
    },
)
class ModelsStatus(TypedDict):
    """Which model versions score the tenant's events, and any refused promotion. Only
    ``tenant`` and ``refreshError`` are there when the first refresh of the models failed."""

    tenant: str
    enabled: NotRequired[Annotated[bool | None, Field(description="null: not loaded yet.")]]
    state: NotRequired[str]
    # in the order the scorers add them (validation renders keys in this order)
    models: NotRequired[dict[str, ModelSlot]]
    lastScoringError: NotRequired[str]
    refreshError: NotRequired[str]
    series: NotRequired[SeriesStatus]


DEAD_LETTER_EXAMPLE: dict[str, Any] = {
    "deliveryId": "0b8f3d0e-8a57-4d0c-9f57-3f1f8f0e2a11",
    "kind": "violation",
    "url": "https://hooks.example.com/ott",
    "attempts": 8,
    "lastError": "HTTP 410",
    "createdAt": "2026-11-26T20:15:00.420000+00:00",
    "payload": {"id": "0b8f3d0e-8a57-4d0c-9f57-3f1f8f0e2a11", "type": "violation"},
}


@examples(DEAD_LETTER_EXAMPLE)
class DeadLetter(TypedDict):
    """A webhook notification out of attempts or refused by its receiver."""

    deliveryId: str
    kind: Annotated[str, Field(description="violation or risk.alert")]
    url: str
    attempts: int
    lastError: str | None
    createdAt: InstantText
    payload: Annotated[dict[str, Any], Field(description="The body it was sent with.")]


@examples({"items": [DEAD_LETTER_EXAMPLE], "nextCursor": None})
class DeadLetterPage(TypedDict):
    """A page of dead letters, oldest first."""

    items: list[DeadLetter]
    nextCursor: Cursor


@examples({"deliveryId": "0b8f3d0e-8a57-4d0c-9f57-3f1f8f0e2a11", "status": "pending"})
class Requeued(TypedDict):
    """The dead letter is queued to be sent again, under the same delivery id."""

    deliveryId: str
    status: Literal["pending"]
