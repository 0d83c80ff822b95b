"""Mounts the schema on FastAPI: POST/GET queries, GraphiQL on GET from a browser (bundled
from pinned npm packages, see :func:`ott_runtime.api.routers.dashboard.graphiql_page`), and
subscriptions over graphql-transport-ws on the same path.

On the socket the key goes in the ``connection_init`` payload (``{"apiKey": ...}``); a
missing or wrong key closes the socket with 4403 before any subscription starts. Over
HTTP a request without a valid key is refused with 401 before its body is read
(:mod:`ott_runtime.api.guards`), and strawberry's own refusals (malformed JSON, no query)
are RFC 9457 problems, not its text/plain answers.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Any, overload

from cross_web import HTTPException
from fastapi import Request, Response, WebSocket
from fastapi.responses import HTMLResponse
from graphql import GraphQLError
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from ott_runtime.api.graphql.context import GraphContext, context_for
from ott_runtime.api.graphql.guards import GuardedRequests
from ott_runtime.api.graphql.schema import schema
from ott_runtime.api.problems import Problem
from ott_runtime.api.routers.dashboard import graphiql_page


class TenantGraphQLRouter(GuardedRequests, GraphQLRouter[GraphContext, None]):
    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        # strawberry's own page loads GraphiQL from a CDN; ours is bundled at build time
        return graphiql_page()

    async def on_ws_connect(self, context: GraphContext) -> UnsetType | dict[str, Any] | None:
        try:
            principal = await context.principal()
        except GraphQLError as error:
            raise ConnectionRejectionError({"message": error.message}) from None
        return {"tenant": principal.scope.tenant_id}

    @overload
    async def run(
        self, request: Request, context: Any = UNSET, root_value: Any = UNSET
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> WebSocket: ...

    async def run(
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Response | WebSocket:
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:  # strawberry answers these with text/plain
            raise http_problem(error, request.scope.get("method", "GET")) from None


def http_problem(error: HTTPException, method: str) -> Problem:
    """Strawberry's refusal of an HTTP request as a problem naming what was wrong."""
    slugs = {404: "not-found", 405: "method-not-allowed", 415: "unsupported-media-type"}
    named = (n for n in ("variables", "extensions", "query") if f"`{n}`" in error.reason)
    field = next(named, "query" if method == "GET" else "body")
    return Problem(
        error.status_code, HTTPStatus(error.status_code).phrase, error.reason,
        slugs.get(error.status_code, "invalid-graphql-request"),
        errors=[{"index": None, "field": field, "message": error.reason}],
    )  # fmt: skip


def graphql_router() -> GraphQLRouter[GraphContext, None]:
    return TenantGraphQLRouter(
        schema,
        context_getter=context_for,
        graphql_ide="graphiql",
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=10),
        tags=["graphql"],
    )
