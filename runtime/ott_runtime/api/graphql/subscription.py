"""The GraphQL ``Subscription`` type: violations and risk alerts as they are stored."""

from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import strawberry

from ott_runtime.api.graphql.context import graph_error
from ott_runtime.api.graphql.inputs import Info, ViolationFilter, violation_from_message
from ott_runtime.api.graphql.types import RiskScore, Violation
from ott_runtime.realtime.protocol import ChannelFilter


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Violations as they are stored, filtered.")
    async def violations(
        self, info: Info, filter: ViolationFilter | None = None
    ) -> AsyncGenerator[Violation, None]:
        principal = await info.context.principal()
        given = filter or ViolationFilter()
        channel_filter = ChannelFilter(
            min_severity=given.min_severity.value if given.min_severity else None,
            regulation=given.regulation,
            rule_id=given.rule_id,
            content_id=given.content_id,
        )
        async for data in info.context.live.follow(
            principal.scope.tenant_id, "violations", channel_filter
        ):
            yield violation_from_message(data)

    @strawberry.subscription(
        description="Risk scores at or above the threshold (default: the tenant's)."
    )
    async def risk_alerts(
        self, info: Info, threshold: float | None = None
    ) -> AsyncGenerator[RiskScore, None]:
        principal = await info.context.principal()
        if threshold is not None and not 0 <= threshold <= 1:
            raise graph_error("threshold must be between 0 and 1", "BAD_USER_INPUT")
        channel_filter = ChannelFilter(threshold=threshold)
        async for data in info.context.live.follow(
            principal.scope.tenant_id, "alerts", channel_filter
        ):
            yield RiskScore(
                id=strawberry.ID(str(data["seq"])),
                event_id=data["eventId"],
                score=data["score"],
                model=data["model"],
                explanation=data["explanation"],
                created_at=datetime.now(UTC),
            )
