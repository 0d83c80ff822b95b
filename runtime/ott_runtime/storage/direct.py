"""Driver-level statements for the ingest's hot path: each batch's inserts and upserts as
one statement per table, their parameters converted once in Python, no ORM or type
processing per row.

On SQLite a statement through SQLAlchemy's aiosqlite adapter costs ~300 us of CPU (a
cursor, the execution, a fetch and a close, each a hop to aiosqlite's thread and back); the
same statement sent on the aiosqlite connection itself, executed and fetched in one hop,
~60 us. So SQLite statements go there, inside the session's own transaction (the same
sqlite3 connection: they commit or roll back with it), unless something listens to the
engine's statements (tracing): then they go through ``exec_driver_sql``, where it sees
them. PostgreSQL statements always take ``exec_driver_sql`` (asyncpg: one round trip).

Values must be in the form the columns' SQLAlchemy types store, so that rows written here
and through the ORM read back alike: :func:`stored_datetime` is :class:`UTCDateTime`'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# SQLite 3.32+ allows 32,766 parameters a statement (json_each, used elsewhere, needs 3.38)
_SQLITE_MAX_PARAMETERS = 32_766


def naive_utc(value: datetime) -> datetime:
    """What :class:`UTCDateTime` binds: the moment in UTC, without a zone."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None)


def sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text (``YYYY-MM-DD HH:MM:SS.ffffff``) of the UTC moment."""
    return naive_utc(value).isoformat(" ", "microseconds")


class DirectStatements:
    """Sends driver-level SQL (``?`` on SQLite, ``$n`` on PostgreSQL) in the session's
    transaction, by the cheapest path that keeps statement listeners informed."""

    def __init__(self, connection: AsyncConnection, sqlite_connection: Any | None) -> None:
        self._connection = connection
        self._sqlite = sqlite_connection  # the aiosqlite connection, or None
        self.is_sqlite = connection.dialect.name == "sqlite"

    @classmethod
    async def of(cls, session: AsyncSession) -> DirectStatements:
        connection = await session.connection()
        direct = None
        listeners = connection.sync_engine.dispatch
        listened = listeners.before_cursor_execute or listeners.after_cursor_execute
        if connection.dialect.name == "sqlite" and not listened:
            direct = (await connection.get_raw_connection()).driver_connection
        return cls(connection, direct)

    def stored_datetime(self, value: datetime) -> datetime | str:
        """A ``UTCDateTime`` value as the driver takes it for this database."""
        return sqlite_datetime(value) if self.is_sqlite else naive_utc(value)

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Executes one statement; returns its rows (none without RETURNING/SELECT)."""
        if self._sqlite is None:
            result = await self._connection.exec_driver_sql(sql, tuple(parameters))
            return [tuple(row) for row in result.all()] if result.returns_rows else []
        try:
            return list(await self._sqlite.execute_fetchall(sql, parameters))
        except sqlite3.Error as error:
            # what SQLAlchemy would raise, so callers catch one kind (IntegrityError...)
            raise exc.DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error


async def insert_rows(
    statements: DirectStatements,
    table: str,
    columns: Sequence[str],
    postgres_types: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    shared: Mapping[str, Any] | None = None,
    tail: str = "",
) -> list[tuple[Any, ...]]:
    """INSERTs ``rows`` (one value per column) as few statements as the driver allows: one
    multi-row VALUES statement per chunk on SQLite, one ``unnest`` of an array per column on
    PostgreSQL (``postgres_types`` names the arrays' element types). ``shared`` columns take
    one value for every row (the tenant), bound once. ``tail`` follows the rows
    (``ON CONFLICT ...``, ``RETURNING ...``); the rows it returns are returned."""
    if not rows:
        return []
    fixed = dict(shared or {})
    names = ", ".join([*fixed, *columns])
    if not statements.is_sqlite:
        # asyncpg encodes an array element by element (~0.3 us each): constants go as scalars
        scalars = "".join(f"${n}, " for n in range(1, len(fixed) + 1))
        first = len(fixed) + 1
        arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(postgres_types, first))
        sql = f"INSERT INTO {table} ({names}) SELECT {scalars}* FROM unnest({arrays}) {tail}"
        parameters = [*fixed.values(), *(list(column) for column in zip(*rows, strict=True))]
        return await statements.fetch(sql, parameters)
    # ?1.. are the shared values in every row; each plain ? takes the next free number
    per_statement = (_SQLITE_MAX_PARAMETERS - len(fixed)) // len(columns)
    numbered = [f"?{n}" for n in range(1, len(fixed) + 1)]
    marks = "(" + ", ".join([*numbered, *"?" * len(columns)]) + ")"
    returned: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = f"INSERT INTO {table} ({names}) VALUES {', '.join([marks] * len(chunk))} {tail}"
        parameters = [*fixed.values(), *chain.from_iterable(chunk)]
        returned += await statements.fetch(sql, parameters)
    return returned


async def add_to_rows(
    statements: DirectStatements,
    table: str,
    key: Sequence[str],
    columns: Sequence[str],
    postgres_types: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    summed: Sequence[str],
    shared: Mapping[str, Any],
) -> None:
    """Counter upserts: :func:`insert_rows`, where a row whose ``key`` exists adds its
    ``summed`` columns to the stored ones (nothing to add: the stored row stays)."""
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in summed)
    conflict = f"ON CONFLICT ({', '.join(key)}) DO " + (
        f"UPDATE SET {added}" if added else "NOTHING"
    )
    await insert_rows(
        statements, table, columns, postgres_types, rows, shared=shared, tail=conflict
    )
