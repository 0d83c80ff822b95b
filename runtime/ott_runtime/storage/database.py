"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL.

``DATABASE_URL`` selects the database; plain ``postgresql://`` URLs (what CloudNativePG
and most Secrets hold) are mapped to the asyncpg driver, ``sqlite:///`` to aiosqlite.
SQLite runs in WAL mode so readers never block the single writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from ott_runtime.telemetry import instrument_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# replicas that start side by side take turns at the schema: the later one finds it at head
_MIGRATION_LOCK_KEY = int.from_bytes(b"ottc.mig", "big", signed=True)


def async_url(url: str) -> str:
    """The async-driver form of a database URL."""
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}.get(
        parsed.drivername, parsed.drivername
    )
    if parsed.drivername == "sqlite":
        driver = "sqlite+aiosqlite"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def json_text(value: Any) -> str:
    """JSON as the engine stores it (its ``json_serializer``): what direct writes bind too."""
    return orjson.dumps(value).decode()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# SQLite's own files beside the database; it makes them with the database file's mode
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_sqlite_file(url: str) -> None:
    """An embedded database is readable by its owner only (0600, like the keyrings): the
    file is made so before SQLite opens it, which then gives its WAL and shared-memory
    files the same mode; files an earlier version left readable by others are narrowed."""
    parsed = make_url(url)
    name = parsed.database
    if not parsed.drivername.startswith("sqlite") or not name or name == ":memory:":
        return
    if name.startswith("file:") or parsed.query.get("mode") == "memory":
        return  # URI filenames: the caller chose the file's handling
    path = Path(name)
    if not path.parent.is_dir():
        return  # SQLite will say so when it connects
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # an empty file is a new database
    for file in (path, *(path.with_name(path.name + s) for s in _SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(
        "PRAGMA synchronous=NORMAL"
    )  # durable at commit in WAL mode across crashes of the process
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration shipped in this package."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


class Database:
    """One engine per process; sessions are only handed out through the repositories."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {
            "echo": echo,
            # orjson: payloads are serialised on every insert; the stdlib json is ~5x slower
            "json_serializer": json_text,
            "json_deserializer": orjson.loads,
        }
        if not self.is_sqlite:
            options |= {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            private_sqlite_file(self.url)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        instrument_engine(self.engine)  # SQL spans; a no-op without OTEL_*
        # SQLite has one writer: serialising writes here avoids "database is locked" storms.
        self.write_lock = asyncio.Lock() if self.is_sqlite else None

    async def migrate(self) -> None:
        """Brings the schema to the newest revision (idempotent; safe on every start)."""
        async with self.engine.begin() as connection:
            if not self.is_sqlite:  # an embedded SQLite file has one runtime process
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))

    def insert(self, entity: type[DeclarativeBase]) -> postgresql.Insert | sqlite.Insert:
        """This database's INSERT, which has ``on_conflict_do_nothing`` and ``..._do_update``."""
        return sqlite.insert(entity) if self.is_sqlite else postgresql.insert(entity)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as connection:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return result.scalar_one_or_none()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on any error."""
        if self.write_lock is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self.write_lock, self._sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
