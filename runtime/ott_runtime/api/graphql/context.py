"""Per-operation context: the authenticated tenant (same keys, rate limit and metering as
REST) and the DataLoaders that batch nested reads into one statement per kind.

Admin scope: a key registered with the label ``admin`` (``register_key(..., label="admin")``,
or the operator's admin key Secret) may also run the admin mutations (``clearCache``).
Keys come in ``X-API-Key`` / ``Authorization: Bearer`` on HTTP, and in the
``connection_init`` payload (``{"apiKey": ...}``) on the graphql-transport-ws socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from fastapi.requests import HTTPConnection
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from ott_runtime.api.guards import authenticated_by_guard, presented_key
from ott_runtime.auth import AuthError, RateLimited, TenantNotServed, Unauthenticated, authenticate
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.realtime.protocol import ChannelFilter
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope
from ott_runtime.storage.aggregations import GraphRows
from ott_runtime.storage.tables import EventRow, RiskScoreRow, ViolationRow

ADMIN_LABEL = "admin"
K = TypeVar("K")
V = TypeVar("V")


# the GraphQL error code of each refusal of ott_runtime.auth.authenticate
_CODES: dict[type[AuthError], str] = {
    Unauthenticated: "UNAUTHENTICATED",
    TenantNotServed: "FORBIDDEN",
    RateLimited: "RATE_LIMITED",
}


class LiveMessages(Protocol):
    """What subscriptions need of the live side (:class:`ott_runtime.app.Runtime`)."""

    def follow(
        self, tenant: str, channel: str, channel_filter: ChannelFilter
    ) -> AsyncIterator[dict[str, Any]]: ...


def graph_error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


@dataclass(frozen=True)
class Principal:
    """:class:`ott_runtime.auth.Principal` and whether the key has admin scope."""

    scope: TenantScope
    runtime: TenantRuntime
    admin: bool


class GraphContext(BaseContext):
    def __init__(
        self, service: RuntimeService, live: LiveMessages, connection: HTTPConnection
    ) -> None:
        super().__init__()
        self.service, self.live, self.connection = service, live, connection
        self._principal: Principal | None = None
        self._loaders: dict[str, DataLoader[Any, Any]] = {}

    def _presented_key(self) -> str | None:
        params = self.connection_params if isinstance(self.connection_params, dict) else {}
        key = params.get("apiKey") or params.get("X-API-Key")
        if isinstance(key, str) and key:
            return key
        return presented_key(self.connection.headers)

    async def principal(self) -> Principal:
        """The caller's tenant, authenticated once per operation (or per socket)."""
        if self._principal is not None:
            return self._principal
        api_key = self._presented_key()
        try:
            caller = await authenticate(
                self.service,
                api_key,
                metered=True,
                limiter=self.connection.app.state.rate_limiter,
                # over HTTP the request guard looked the key up already (api.guards)
                found=authenticated_by_guard(self.connection.scope, api_key) if api_key else None,
            )
        except AuthError as error:
            raise graph_error(error.detail, _CODES[type(error)]) from None
        directory = self.service.store.directory
        admin = api_key is not None and (await directory.key_label(api_key)) == ADMIN_LABEL
        self._principal = Principal(caller.scope, caller.runtime, admin)
        return self._principal

    async def admin(self) -> Principal:
        principal = await self.principal()
        if not principal.admin:
            raise graph_error(
                "this needs an admin key (a key registered with label 'admin')", "FORBIDDEN"
            )
        return principal

    def _loader(
        self,
        name: str,
        load: Callable[[GraphRows, Sequence[K]], Awaitable[Mapping[K, V]]],
        missing: V,
    ) -> DataLoader[K, V]:
        loader = self._loaders.get(name)
        if loader is None:

            async def batch(keys: list[K]) -> list[V]:
                principal = await self.principal()
                async with self.service.database.session() as session:
                    found = await load(GraphRows(session, principal.scope), keys)
                return [found.get(key, missing) for key in keys]

            loader = DataLoader(batch)
            self._loaders[name] = loader
        return loader

    @property
    def events(self) -> DataLoader[str, EventRow | None]:
        return self._loader("events", lambda rows, ids: rows.events_by_id(ids), None)

    @property
    def risk(self) -> DataLoader[str, RiskScoreRow | None]:
        return self._loader("risk", lambda rows, ids: rows.risk_by_event(ids), None)

    @property
    def violations_of(self) -> DataLoader[str, list[ViolationRow]]:
        return self._loader("violations", lambda rows, ids: rows.violations_by_event(ids), [])


async def context_for(connection: HTTPConnection) -> GraphContext:
    return GraphContext(connection.app.state.service, connection.app.state.live, connection)
