"""Integration fixtures: a throwaway PostgreSQL cluster from Debian's packages, and a
runtime app with three tenants over SQLite or PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from ott_runtime.api import create_app
from ott_runtime.crypto import KeyStore
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.tenant import ComplianceTenant
from ott_runtime.ingest.rules import runtime_for_tenant
from ott_runtime.ingest.service import RuntimeService

TENANTS = ("acme", "globex", "initech")
REGULATION = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "kids-ads"},
    "spec": {
        "jurisdiction": "US",
        "version": "test",
        "parameters": {"adSecondsPerHourMax": 60},
        "aggregates": [
            {
                "name": "adSecondsLastHour",
                "of": "ad.impression",
                "field": "ad.durationSeconds",
                "fn": "sum",
                "window": "1h",
                "groupBy": ["content.channelId"],
            }
        ],
        "rules": [
            {
                "id": "no-targeted-ads-to-kids",
                "severity": "critical",
                "appliesTo": ["ad.impression"],
                "when": "has(event.viewer.isKidsProfile) && event.viewer.isKidsProfile"
                " && has(event.ad.targeted) && event.ad.targeted",
                "message": "Targeted ad shown on a kids profile",
                "reference": "COPPA 16 CFR 312.5",
            },
            {
                "id": "ad-time-limit",
                "severity": "medium",
                "appliesTo": ["ad.impression"],
                "when": "aggregates.adSecondsLastHour > params.adSecondsPerHourMax",
                "message": "More than {{params.adSecondsPerHourMax}} s of ads in an hour",
                "reference": "test",
            },
        ],
    },
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bin() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    pg_config = shutil.which("pg_config")
    if pg_config:
        return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    pytest.fail("PostgreSQL is not installed: run hack/bootstrap.sh (apt-get install postgresql)")


@dataclass
class PostgresServer:
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster on a free loopback port, removed afterwards."""
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="ottc-pg-"))
    data, port = root / "data", _free_port()
    as_user: list[str] = []
    user = os.environ.get("USER", "postgres")
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        shutil.chown(root, "postgres")
        root.chmod(0o700)
        as_user, user = ["runuser", "-u", "postgres", "--"], "postgres"
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            user,
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    )
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer(port, user)
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


async def _fresh_database(server: PostgresServer) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    connection = await asyncpg.connect(server.url("postgres"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ottc.db'}"
    return await _fresh_database(request.getfixturevalue("postgres"))


def tenant_document(name: str, **spec: object) -> ComplianceTenant:
    return ComplianceTenant.model_validate(
        {
            "apiVersion": "compliance.ott.dev/v1alpha1",
            "kind": "ComplianceTenant",
            "metadata": {"name": name},
            "spec": {
                "displayName": name.title(),
                "plan": "standard",
                "regulations": [{"name": "kids-ads"}],
                "encryption": {"fields": ["viewer.id", "viewer.email", "device.ip"]},
                **spec,
            },
        }
    )


@dataclass
class Deployment:
    service: RuntimeService
    client: httpx.AsyncClient
    keys: dict[str, str]  # tenant -> API key

    def headers(self, tenant: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[tenant]}


@pytest.fixture
async def deployment(database_url: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    """Three pooled tenants served by one process, over httpx's ASGI transport."""
    sets = {"kids-ads": RegulationSet.model_validate(REGULATION)}
    keys = KeyStore.from_directory(tmp_path / "keys", TENANTS, create_missing=True, poll_interval=0)
    runtimes = [
        runtime_for_tenant(
            tenant_document(name, gateway={"rateLimit": {"perSecond": 10000}}), sets, keys
        )
        for name in TENANTS
    ]
    api_keys = {name: f"ottc_test_{name}_{uuid.uuid4().hex}" for name in TENANTS}
    service = RuntimeService(
        database_url, runtimes, keys, api_keys={k: [v] for k, v in api_keys.items()}
    )
    await service.start()
    app = create_app(service, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ottc.test") as client:
        yield Deployment(service, client, api_keys)
    await service.stop()
