"""The GraphQL schema at /v1/graphql: :mod:`.query`, :mod:`.mutation` and
:mod:`.subscription`, with the limits, error masking and logging every operation gets.

Everything is scoped to the tenant of the presented API key (see ``context``).
``schema.graphql`` at the repo root is this schema printed; ``ottc graphql-schema``
regenerates it and a unit test compares them.
"""

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from ott_runtime.api.graphql.errors import MaskUnexpectedErrors, log_errors
from ott_runtime.api.graphql.guards import refused_stream
from ott_runtime.api.graphql.limits import limit_extensions
from ott_runtime.api.graphql.mutation import Mutation
from ott_runtime.api.graphql.query import Query
from ott_runtime.api.graphql.scalars import SCALAR_OVERRIDES
from ott_runtime.api.graphql.subscription import Subscription


class TenantSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)  # instead of strawberry's: every error at ERROR with a traceback

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        # the socket's operations; HTTP requests were checked by the router already
        refusal = refused_stream(query)
        if refusal is not None:
            return refusal
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )


schema = TenantSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[*limit_extensions(), MaskUnexpectedErrors],
    scalar_overrides=SCALAR_OVERRIDES,
)
