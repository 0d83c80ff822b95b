"""Admission control: with the in-flight limits reached, an ingest batch is refused at once
(503 globally, 429 per tenant, problem+json with Retry-After), before its body is read,
and nothing from it is stored; once the batch in flight is answered, the next is accepted.

A batch is held in flight by a risk scorer that waits on a gate for acme's batches (the
pipeline awaits the scorer after the tenant's lock, before the write transaction)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import event
from starlette.types import Message

from ott_runtime.api.admission import AdmissionSettings
from ott_runtime.app import create_app
from ott_runtime.cli import cli
from ott_runtime.crypto import KeyStore
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.ingest.rules import runtime_for_tenant
from ott_runtime.ingest.scoring import RiskScore, ScoringInput
from ott_runtime.service import RuntimeService
from ott_runtime.storage.directory import hash_api_key

from .conftest import REGULATION, TENANTS, tenant_document

PROBLEM = "application/problem+json"
HANG_GUARD = 30  # seconds: only so a regression fails instead of hanging the suite


class Gate:
    """A risk scorer that holds acme's batches until opened."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def score(self, batch: Sequence[ScoringInput]) -> Sequence[RiskScore | None]:
        if batch and batch[0].tenant == "acme":
            self.entered.set()
            await self.opened.wait()
        return [None] * len(batch)


@dataclass
class Served:
    service: RuntimeService
    gate: Gate
    keys: dict[str, str]
    make: Callable[[AdmissionSettings], FastAPI]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
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
        f"sqlite:///{tmp_path / 'ottc.db'}",
        runtimes,
        keys,
        api_keys={k: [v] for k, v in api_keys.items()},
    )
    await service.start()
    gate = Gate()
    service.pipeline.scorer = gate

    def make(settings: AdmissionSettings) -> FastAPI:
        return create_app(service, manage_lifecycle=False, admission=settings)

    yield Served(service, gate, api_keys, make)
    gate.opened.set()
    await service.stop()


def ad(event_id: str) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {"id": "viewer-1", "isKidsProfile": False},
        "content": {"id": "show-1", "channelId": "ch-1"},
        "ad": {"id": "ad-1", "durationSeconds": 30, "targeted": False},
    }


T = TypeVar("T")


async def guarded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, HANG_GUARD)


@pytest.fixture
def client_for(served: Served) -> Callable[[AdmissionSettings], httpx.AsyncClient]:
    def build(settings: AdmissionSettings) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=served.make(settings))
        return httpx.AsyncClient(transport=transport, base_url="http://ottc.test")

    return build


async def post(client: httpx.AsyncClient, served: Served, tenant: str, *ids: str) -> httpx.Response:
    body = orjson.dumps({"events": [ad(i) for i in ids]})
    return await client.post("/v1/events", content=body, headers={"X-API-Key": served.keys[tenant]})


async def stored_ids(client: httpx.AsyncClient, served: Served, tenant: str) -> set[str]:
    response = await client.get("/v1/events", headers={"X-API-Key": served.keys[tenant]})
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def assert_refused(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"
    problem = response.json()
    assert problem["type"].endswith(f":{slug}")
    assert problem["status"] == status
    assert "nothing from this request was stored" in problem["detail"]


async def test_a_tenant_over_its_limit_is_refused_and_others_are_not(
    served: Served, client_for: Callable[[AdmissionSettings], httpx.AsyncClient]
) -> None:
    async with client_for(AdmissionSettings(max_in_flight=0, max_in_flight_per_tenant=1)) as client:
        held = asyncio.create_task(post(client, served, "acme", "a1"))
        await guarded(served.gate.entered.wait())

        refused = await guarded(post(client, served, "acme", "a2"))
        assert_refused(refused, 429, "tenant-busy")
        # another tenant's batch goes through beside the held one
        other = await guarded(post(client, served, "globex", "g1"))
        assert other.status_code == 200, other.text
        assert other.json()["accepted"] == 1

        metrics = (await client.get("/metrics")).text
        assert 'ottc_ingest_shed_total{reason="tenant",tenant="acme"} 1.0' in metrics
        assert "ottc_ingest_in_flight 1.0" in metrics

        served.gate.opened.set()
        assert (await guarded(held)).status_code == 200
        assert await stored_ids(client, served, "acme") == {"a1"}  # nothing of a2
        retried = await guarded(post(client, served, "acme", "a2"))
        assert retried.status_code == 200, retried.text
        assert retried.json()["accepted"] == 1
        assert await stored_ids(client, served, "acme") == {"a1", "a2"}
        assert "ottc_ingest_in_flight 0.0" in (await client.get("/metrics")).text


async def test_the_global_limit_refuses_every_tenant_rest_and_graphql(
    served: Served, client_for: Callable[[AdmissionSettings], httpx.AsyncClient]
) -> None:
    async with client_for(AdmissionSettings(max_in_flight=1, max_in_flight_per_tenant=0)) as client:
        held = asyncio.create_task(post(client, served, "acme", "a1"))
        await guarded(served.gate.entered.wait())

        assert_refused(await guarded(post(client, served, "globex", "g1")), 503, "server-busy")
        mutation = "mutation P($e: [JSON!]!) { processEvents(events: $e) { accepted } }"
        graphql = await guarded(
            client.post(
                "/v1/graphql",
                json={"query": mutation, "variables": {"e": [ad("g2")]}},
                headers={"X-API-Key": served.keys["globex"]},
            )
        )
        assert graphql.headers["retry-after"] == "1"
        error = graphql.json()["errors"][0]
        assert error["extensions"] == {"code": "SERVER_BUSY", "status": 503, "retryAfter": 1}
        metrics = (await client.get("/metrics")).text
        assert 'ottc_ingest_shed_total{reason="global",tenant="globex"} 2.0' in metrics

        served.gate.opened.set()
        assert (await guarded(held)).status_code == 200
        assert await stored_ids(client, served, "globex") == set()
        accepted = await guarded(post(client, served, "globex", "g1"))
        assert accepted.status_code == 200, accepted.text
        assert await stored_ids(client, served, "globex") == {"g1"}


async def test_the_refusal_comes_before_the_body_is_read(served: Served) -> None:
    app = served.make(AdmissionSettings(max_in_flight=1, max_in_flight_per_tenant=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ottc.test") as client:
        held = asyncio.create_task(post(client, served, "acme", "a1"))
        await guarded(served.gate.entered.wait())

        body_read = asyncio.Event()
        sent: list[Message] = []

        async def receive() -> Message:  # a client whose body never arrives
            body_read.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/v1/events", "raw_path": b"/v1/events",
            "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
            "server": ("ottc.test", 80),
            "headers": [
                (b"host", b"ottc.test"), (b"content-type", b"application/json"),
                (b"content-length", b"100000"), (b"x-api-key", served.keys["globex"].encode()),
            ],
        }  # fmt: skip
        await guarded(app(scope, receive, send))
        assert not body_read.is_set()
        assert sent[0]["type"] == "http.response.start"
        assert sent[0]["status"] == 503
        served.gate.opened.set()
        assert (await guarded(held)).status_code == 200


async def test_requests_without_a_valid_key_take_no_slot(
    served: Served, client_for: Callable[[AdmissionSettings], httpx.AsyncClient]
) -> None:
    async with client_for(AdmissionSettings(max_in_flight=1, max_in_flight_per_tenant=1)) as client:
        held = asyncio.create_task(post(client, served, "acme", "a1"))
        await guarded(served.gate.entered.wait())
        for headers in ({}, {"X-API-Key": "ottc_unknown"}):
            response = await guarded(client.post("/v1/events", json=[ad("x")], headers=headers))
            assert response.status_code == 401, response.text  # not 503: authentication answers
        served.gate.opened.set()
        assert (await guarded(held)).status_code == 200


def test_settings_from_the_environment_and_serve_flags() -> None:
    assert AdmissionSettings.from_env({}) == AdmissionSettings(4, 2)
    assert AdmissionSettings.from_env(
        {"OTTC_MAX_IN_FLIGHT": "0", "OTTC_MAX_IN_FLIGHT_PER_TENANT": " 5 "}
    ) == AdmissionSettings(0, 5)
    with pytest.raises(ValueError, match="OTTC_MAX_IN_FLIGHT_PER_TENANT='-1'"):
        AdmissionSettings.from_env({"OTTC_MAX_IN_FLIGHT_PER_TENANT": "-1"})
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--max-in-flight " in help_text
    assert "--max-in-flight-per-tenant " in help_text


async def test_openapi_documents_the_refusals(
    client_for: Callable[[AdmissionSettings], httpx.AsyncClient],
) -> None:
    async with client_for(AdmissionSettings()) as client:
        spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/v1/events"]["post"]["responses"]
    for status in ("429", "503"):
        assert PROBLEM in responses[status]["content"], status


async def test_concurrent_requests_with_an_uncached_key_send_one_lookup(served: Served) -> None:
    """Under load every request for a key whose cache entry expired used to query the
    database itself (a herd of 100-400 ms lookups in `ottc bench overload`, refusals among
    them): now they wait for one."""
    directory, engine = served.service.store.directory, served.service.store.database.engine
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "api_keys" in statement:
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        directory.clear_cache()
        found = await guarded(
            asyncio.gather(*(directory.authenticate(served.keys["acme"]) for _ in range(20)))
        )
        unknown = await guarded(
            asyncio.gather(
                *(directory.authenticate("ottc_no_such_key_000000000") for _ in range(5))
            )
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert {scope.tenant_id for scope in found if scope is not None} == {"acme"}
    assert all(scope is not None for scope in found)
    assert unknown == [None] * 5
    assert len(statements) == 2, statements


async def test_a_key_in_use_is_looked_up_again_before_its_entry_expires(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry in its last 5 s answers at once and is refreshed in the background; a key
    revoked meanwhile stays refused (the refresh that began before is not cached)."""
    directory = served.service.store.directory
    key = served.keys["acme"]
    digest = hash_api_key(key)
    assert await directory.authenticate(key) is not None
    stamped, tenant = directory._cache[digest]
    directory._cache[digest] = (stamped - 26, tenant)  # 26 s old: 4 s before it expires

    found = await directory.authenticate(key)  # not waiting for the database
    assert found is not None
    assert found.tenant_id == "acme"
    refresh = directory._lookups[digest]
    await guarded(refresh)
    assert directory._cache[digest][0] > stamped - 1  # stamped anew

    # a refresh that read the key before its revocation and answers after it
    read, answered = asyncio.Event(), asyncio.Event()
    read_before = directory._lookup

    async def slow_lookup(digest: str) -> str | None:
        result = await read_before(digest)
        read.set()
        await answered.wait()
        return result

    monkeypatch.setattr(directory, "_lookup", slow_lookup)
    directory._cache[digest] = (stamped - 26, tenant)
    assert await directory.authenticate(key) is not None
    refresh = directory._lookups[digest]
    await guarded(read.wait())
    await directory.revoke_key(key)
    answered.set()
    assert await guarded(asyncio.shield(refresh)) == "acme"  # stale, and not cached
    monkeypatch.undo()
    assert await directory.authenticate(key) is None
