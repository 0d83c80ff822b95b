"""Integration fixtures: a throwaway PostgreSQL cluster from Debian's packages, and a
runtime app with three tenants over SQLite or PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ott_runtime.app import Runtime
from ott_runtime.config import standalone_config
from ott_runtime.crypto import KeyStore
from ott_runtime.devcluster.postgres import (
    PostgresCluster,
    PostgresUnavailable,
    free_port,
    throwaway_postgres,
)
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.tenant import ComplianceTenant
from ott_runtime.ingest.rules import runtime_for_tenant
from ott_runtime.server import build_server
from ott_runtime.service import RuntimeService

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
                # quotes an encrypted field: the stored message must not hold it in the clear
                "message": "Targeted ad shown on a kids profile (viewer {{event.viewer.id}})",
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


# names other test modules import
PostgresServer = PostgresCluster
_free_port = free_port


@contextmanager
def serve_in_thread(
    documents: list[dict[str, Any]], root: Path, database_url: str | None = None
) -> Iterator[tuple[int, dict[str, list[str]]]]:
    """A real uvicorn on loopback, in a thread, serving ``documents`` (RegulationSets and
    tenants) as ``ottc serve --config`` would: (its port, the demo API keys by tenant)."""
    (root / "config.yaml").write_text(yaml.safe_dump_all(documents))
    config = standalone_config([root / "config.yaml"], root / "state", database_url)
    service = RuntimeService(
        config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
    )
    port = free_port()
    server = build_server(Runtime(service), port=port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "server thread ended during startup"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield port, config.api_keys
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def _fresh_database(server: PostgresCluster) -> str:
    return await server.create_database()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster on a free loopback port, removed afterwards."""
    try:
        with throwaway_postgres() as cluster:
            yield cluster
    except PostgresUnavailable as error:
        pytest.fail(str(error))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ottc.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return await cluster.create_database()


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
                "encryption": {
                    "fields": ["viewer.id", "viewer.email", "device.ip"],
                    "searchable": ["viewer.id"],
                },
                **spec,
            },
        }
    )


@dataclass
class Deployment:
    service: RuntimeService
    runtime: Runtime  # a second app over the service comes from runtime.app()
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
    runtime = Runtime(service)
    transport = httpx.ASGITransport(app=runtime.app(manage_lifecycle=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://ottc.test") as client:
        yield Deployment(service, runtime, client, api_keys)
    await service.stop()
