"""Tenant scoping by construction.

No repository can be obtained without a :class:`TenantScope`, and every statement a
repository runs goes through :meth:`ScopedRepository._where_tenant` (reads, updates,
deletes) or :meth:`ScopedRepository._owned` (inserts), which pin ``tenant_id`` to the
scope; the ingest's driver-level inserts (:mod:`ott_runtime.storage.direct`) put
:attr:`ScopedRepository.tenant_id` in every row themselves (and filter reads on it). There
is no method that takes a tenant id from its caller or returns a session, so a query
without the tenant filter cannot be written through this layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

_TENANT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class _Filterable(Protocol):
    def where(self, *clauses: Any) -> Self: ...


Statement = TypeVar("Statement", bound=_Filterable)


@dataclass(frozen=True, slots=True)
class TenantScope:
    """The one tenant a request, job or command may touch.

    Made by authentication (an API key resolves to it) or by an operator command that
    names the tenant explicitly; never from a value in a request body."""

    tenant_id: str

    def __post_init__(self) -> None:
        if not _TENANT_NAME.fullmatch(self.tenant_id) or len(self.tenant_id) > 63:
            raise ValueError(f"not a tenant name: {self.tenant_id!r}")


class ScopedRepository:
    """Base of every tenant-owned repository."""

    def __init__(self, session: AsyncSession, scope: TenantScope) -> None:
        if not isinstance(scope, TenantScope):
            raise TypeError("a repository needs a TenantScope")
        self._session = session
        self._scope = scope

    @property
    def tenant_id(self) -> str:
        return self._scope.tenant_id

    @property
    def _is_postgresql(self) -> bool:
        """Whether the session's database is PostgreSQL (else SQLite), for SQL that differs."""
        return self._session.get_bind().dialect.name == "postgresql"

    def _where_tenant(self, statement: Statement, *tables: Any) -> Statement:
        """Adds ``tenant_id = <scope>`` for each table the statement touches."""
        if not tables:
            raise ValueError("name the tables the statement reads")
        for table in tables:
            statement = statement.where(table.tenant_id == self._scope.tenant_id)
        return statement

    def _owned(self, values: dict[str, Any]) -> dict[str, Any]:
        """Insert values with the scope's tenant, whatever the caller put there."""
        return {**values, "tenant_id": self._scope.tenant_id}


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core table of a mapped class (for executemany inserts without the ORM)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
