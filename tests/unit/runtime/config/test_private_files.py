"""The state directory and the SQLite files (database, WAL, shared memory) are owner-only,
under the usual umask, for a new install and one an earlier version left readable."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ott_runtime.config.loading import private_state_dir
from ott_runtime.storage import Database, Store
from ott_runtime.storage.database import sqlite_url


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_a_new_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "ottc.db"
    database = Database(sqlite_url(path))
    try:
        await database.migrate()
        await Store(database).directory.upsert_tenant("acme", display_name="A", plan="standard")
        for name in ("ottc.db", "ottc.db-wal", "ottc.db-shm"):
            assert _mode(tmp_path / name) == 0o600, name
    finally:
        await database.close()


async def test_files_left_readable_are_narrowed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "ottc.db"
    first = Database(sqlite_url(path))
    await first.migrate()
    await first.close()
    for file in (path, tmp_path / "ottc.db-wal"):
        file.touch()
        file.chmod(0o644)  # what earlier versions made
    again = Database(sqlite_url(path))
    try:
        assert _mode(path) == 0o600
        assert _mode(tmp_path / "ottc.db-wal") == 0o600
        assert await again.current_revision() is not None  # still the same database
    finally:
        await again.close()


def test_memory_and_missing_folders_are_left_to_sqlite(tmp_path: Path) -> None:
    Database("sqlite+aiosqlite:///:memory:")
    Database(sqlite_url(tmp_path / "absent" / "ottc.db"))
    assert not (tmp_path / "absent").exists()


def test_the_state_dir_is_owner_only(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "state"
    private_state_dir(fresh)
    assert _mode(fresh) == 0o700
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    private_state_dir(old)
    assert _mode(old) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: not ours to narrow
    private_state_dir(shared)
    assert _mode(shared) == 0o1777
