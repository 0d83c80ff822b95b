"""Mounts the schema on FastAPI: POST/GET queries, GraphiQL on GET from a browser (bundled
from pinned npm packages, see :func:`ott_runtime.dashboard.router.graphiql_page`), and
subscriptions over graphql-transport-ws on the same path.

On the socket the key goes in the ``connection_init`` payload (``{"apiKey": ...}``); a
missing or wrong key closes the socket with 4403 before any subscription starts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from graphql import GraphQLError
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from ott_runtime.dashboard.router import graphiql_page
from ott_runtime.graphql.context import GraphContext, context_for
from ott_runtime.graphql.guards import GuardedRequests
from ott_runtime.graphql.schema import schema


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


def graphql_router() -> GraphQLRouter[GraphContext, None]:
    return TenantGraphQLRouter(
        schema,
        context_getter=context_for,
        graphql_ide="graphiql",
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=10),
        tags=["graphql"],
    )
