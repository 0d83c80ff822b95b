"""The GraphQL ``Mutation`` type: ingest (as POST /v1/events), acknowledge, retry, admin."""

import json
from datetime import UTC, datetime

import orjson
import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from ott_runtime.api.admission import graphql_slot
from ott_runtime.api.batches import ingest_batch
from ott_runtime.api.graphql.context import graph_error
from ott_runtime.api.graphql.inputs import Info
from ott_runtime.api.graphql.types import (
    CacheCleared,
    IngestOutcome,
    Violation,
    as_json,
)
from ott_runtime.ingest.errors import IngestError
from ott_runtime.notifications.outbox import OutboxRepository


def _batch_body(events: list[JSON]) -> bytes:
    """The events as the body POST /v1/events would get (the same checks then apply)."""
    try:
        return orjson.dumps({"events": events})
    except TypeError:  # orjson stops at 64-bit integers; the JSON text has no such limit
        return json.dumps({"events": events}).encode()


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Ingests a batch of events (the same pipeline as POST /v1/events)."
    )
    async def process_events(self, info: Info, events: list[JSON]) -> IngestOutcome:
        principal = await info.context.principal()
        context = info.context
        try:  # a slot as for POST /v1/events (refused: SERVER_BUSY / TENANT_BUSY)
            with graphql_slot(context.connection.app, principal.scope.tenant_id, context.response):
                result = await ingest_batch(  # as POST /v1/events: body limit, metrics
                    context.service,
                    context.connection.app.state.metrics,
                    principal.scope,
                    _batch_body(events),
                )
        except IngestError as error:
            problems = "; ".join(
                f"event {p.index}: {p.field}: {p.message}" for p in error.problems[:10]
            )
            raise GraphQLError(
                f"{error.title}: {error.detail}" + (f" ({problems})" if problems else ""),
                extensions={
                    "code": "INVALID_EVENTS",
                    "status": error.status,
                    "problems": [p.to_json() for p in error.problems],
                },
            ) from None
        return IngestOutcome(
            accepted=len(result.accepted),
            duplicates=result.duplicates,
            violations=[as_json(v) for v in result.violations],
            risk=[as_json(r) for r in result.risk],
        )

    @strawberry.mutation(description="Marks a violation acknowledged (the first one is kept).")
    async def acknowledge_violation(
        self, info: Info, id: strawberry.ID, by: str = "graphql", note: str | None = None
    ) -> Violation:
        principal = await info.context.principal()
        if not 1 <= len(by) <= 128 or (note is not None and len(note) > 1024):
            raise graph_error("by: 1..128 characters, note: at most 1024", "BAD_USER_INPUT")
        async with info.context.service.store.write(principal.scope) as data:
            row = await data.violations.acknowledge(str(id), by=by, note=note, at=datetime.now(UTC))
        if row is None:
            raise graph_error(f"no violation {id!r}", "NOT_FOUND")
        return Violation.of(row)

    @strawberry.mutation(description="Sends a dead letter again (same delivery id).")
    async def retry_dead_letter(self, info: Info, delivery_id: str) -> bool:
        principal = await info.context.principal()
        async with info.context.service.store.write(principal.scope) as data:
            requeued = await data.repository(OutboxRepository).requeue(
                delivery_id, datetime.now(UTC)
            )
        if not requeued:
            raise graph_error(f"no dead letter {delivery_id!r}", "NOT_FOUND")
        return True

    @strawberry.mutation(
        description="Admin: drops this process's API-key cache (revocations apply at once)."
    )
    async def clear_cache(self, info: Info) -> CacheCleared:
        await info.context.admin()
        return CacheCleared(api_keys=info.context.service.store.directory.clear_cache())
