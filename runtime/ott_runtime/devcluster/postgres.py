"""A throwaway PostgreSQL cluster from the Debian packages, for tests and benchmarks.

Started with initdb/pg_ctl on a free loopback port in a temporary directory (as the
``postgres`` user when run as root, since initdb refuses root) and removed afterwards.
Never used by the runtime itself, which gets its database from ``DATABASE_URL``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin_dir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    pg_config = shutil.which("pg_config")
    if pg_config:
        return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    raise PostgresUnavailable(
        "PostgreSQL is not installed: run hack/bootstrap.sh (apt-get install postgresql)"
    )


@dataclass(frozen=True)
class PostgresCluster:
    port: int
    user: str
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        from ott_runtime.storage.database import async_url

        name = "t_" + uuid.uuid4().hex[:12]
        engine = create_async_engine(async_url(self.url()), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await engine.dispose()
        return self.url(name)


@contextmanager
def throwaway_postgres(
    *, max_connections: int = 200, durable: bool = False
) -> Iterator[PostgresCluster]:
    """``durable``: keep fsync and synchronous commit on (benchmarks); tests turn them off
    for speed, which changes nothing they check."""
    bin_dir = postgres_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="ottc-pg-"))
    data, port = root / "data", free_port()
    as_user: list[str] = []
    user = os.environ.get("USER") or "postgres"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        root.chmod(0o700)
        as_user, user = ["runuser", "-u", "postgres", "--"], "postgres"
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user,
             "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
        options += f" -c max_connections={max_connections}"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            [*pg_ctl, "-o", options, "-l", str(root / "server.log"), "-w", "start"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as error:
        log = root / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else error.stderr
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"PostgreSQL did not start: {detail}") from None
    try:
        yield PostgresCluster(port, user, root)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
