"""GET /v1/reports (format=json) and GET /v1/analytics: aggregations of a period, as
``storage.reports`` computes them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from ott_runtime.api.schemas.common import InstantText, SeverityName, examples

Counts = Annotated[dict[str, int], Field(description="A count per name.")]
BucketName = Annotated[str, WithJsonSchema({"type": "string", "enum": ["hour", "day"]})]


@examples({"contentId": "show-7", "count": 12})
class ContentCount(TypedDict):
    contentId: str
    count: int


@examples({"day": "2026-11-26T00:00:00Z", "count": 4})
class DayCount(TypedDict):
    day: Annotated[InstantText, Field(description="The day's first instant, UTC.")]
    count: int


RULE_SUMMARY_EXAMPLE: dict[str, Any] = {
    "regulation": "kids-ads",
    "ruleId": "no-targeted-ads-to-kids",
    "severity": "critical",
    "reference": "COPPA 16 CFR 312.5",
    "count": 12,
    "acknowledged": 3,
    "topContent": [{"contentId": "show-7", "count": 12}],
    "trend": [{"day": "2026-11-26T00:00:00Z", "count": 12}],
}


@examples(RULE_SUMMARY_EXAMPLE)
class RuleSummary(TypedDict):
    """One rule's violations in the period."""

    regulation: str
    ruleId: str
    severity: SeverityName
    reference: str
    count: int
    acknowledged: int
    topContent: Annotated[
        list[ContentCount], Field(description="The content with most violations (up to 5).")
    ]
    trend: Annotated[list[DayCount], Field(description="Violations per day, oldest first.")]


REPORT_EXAMPLE: dict[str, Any] = {
    "tenant": "acme",
    "displayName": "Acme Streaming",
    "period": "2026-11",
    "from": "2026-11-01T00:00:00+00:00",
    "to": "2026-12-01T00:00:00+00:00",
    "generatedAt": "2026-11-26T21:00:00.120000+00:00",
    "events": {"ad.impression": 120, "playback.start": 40},
    "violations": 12,
    "rules": [RULE_SUMMARY_EXAMPLE],
}
# the functional form: "from" is a keyword
Report = TypedDict(
    "Report",
    {
        "tenant": str,
        "displayName": str,
        "period": Annotated[str, Field(description="The period asked for.")],
        "from": Annotated[InstantText, Field(description="Start (inclusive).")],
        "to": Annotated[InstantText, Field(description="End (exclusive).")],
        "generatedAt": InstantText,
        "events": Annotated[dict[str, int], Field(description="Events per type.")],
        "violations": Annotated[int, Field(description="All violations in the period.")],
        "rules": Annotated[list[RuleSummary], Field(description="Most violations first.")],
    },
)
examples(REPORT_EXAMPLE)(Report)


@examples({"mean": 0.41, "max": 0.93})
class RiskSummary(TypedDict):
    mean: float
    max: float


POINT_EXAMPLE: dict[str, Any] = {
    "bucket": "2026-11-26T20:00:00Z",
    "events": {"ad.impression": 30},
    "violations": {"critical": 2},
    "risk": {"mean": 0.41, "max": 0.93},
}


@examples(POINT_EXAMPLE)
class TimelinePoint(TypedDict):
    """One time bucket that has events or violations."""

    bucket: Annotated[InstantText, Field(description="The bucket's first instant, UTC.")]
    events: Annotated[dict[str, int], Field(description="Events per type.")]
    violations: Annotated[dict[str, int], Field(description="Violations per severity.")]
    risk: Annotated[
        RiskSummary | None, Field(description="Risk scores of its events (null: none).")
    ]


Analytics = TypedDict(
    "Analytics",
    {
        "from": InstantText,
        "to": InstantText,
        "bucket": BucketName,
        "points": Annotated[
            list[TimelinePoint], Field(description="Buckets with data, oldest first.")
        ],
    },
)
examples(
    {
        "from": "2026-11-25T21:00:00+00:00",
        "to": "2026-11-26T21:00:00+00:00",
        "bucket": "hour",
        "points": [POINT_EXAMPLE],
    }
)(Analytics)
