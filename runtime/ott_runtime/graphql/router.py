"""Mounts the schema on FastAPI: POST/GET queries, GraphiQL on GET from a browser, and
subscriptions over graphql-transport-ws on the same path."""

from __future__ import annotations

from datetime import timedelta

from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from ott_runtime.graphql.context import GraphContext, context_for
from ott_runtime.graphql.schema import schema


def graphql_router() -> GraphQLRouter[GraphContext, None]:
    return GraphQLRouter(
        schema,
        context_getter=context_for,
        graphql_ide="graphiql",
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=10),
        tags=["graphql"],
    )
