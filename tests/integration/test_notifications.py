"""Push notifications against a real HTTP receiver on loopback that fails, stalls and
recovers: each notification reaches the receiver's idempotency check exactly once or
ends as a dead letter, the API lists dead letters, and ingest never waits for delivery."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from ott_runtime.app import Runtime
from ott_runtime.crypto import KeyStore
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.ingest import RiskScore, ScoringInput
from ott_runtime.ingest.rules import runtime_for_tenant
from ott_runtime.notifications.delivery import DeliverySettings, WebhookSecrets
from ott_runtime.notifications.signing import InvalidSignature, verify
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope
from ott_runtime.storage.tables import NotificationRow

from .conftest import REGULATION, _free_port, tenant_document

SECRET = b"receiver-shared-secret"
FAST = DeliverySettings(
    base_delay=0.05, max_delay=0.2, max_attempts=4, timeout=0.4, poll_seconds=0.2
)


@dataclass
class Receiver:
    """A webhook receiver: checks signatures and replays, keeps an idempotency set, and
    misbehaves on demand."""

    fail_next: int = 0  # answer 503
    hang_next: int = 0  # hang past the sender's timeout without processing
    process_then_hang_next: int = 0  # process, then hang (the sender retries: a duplicate)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    waiting: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            delivery = verify(SECRET, body, request.headers)
        except InvalidSignature as error:
            self.rejected.append(str(error))
            return web.Response(status=401)
        self.waiting += 1
        await self.gate.wait()
        self.waiting -= 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        if self.hang_next > 0:
            self.hang_next -= 1
            await asyncio.sleep(2)
            return web.Response(status=200)
        if delivery in self.processed:
            self.duplicates += 1
        else:
            self.processed[delivery] = orjson.loads(body)
        if self.process_then_hang_next > 0:
            self.process_then_hang_next -= 1
            await asyncio.sleep(2)
        return web.Response(status=204)


class HitScorer:
    async def score(self, batch: Sequence[ScoringInput]) -> Sequence[RiskScore | None]:
        return [RiskScore(0.9 if item.rule_hits else 0.2, "test@1") for item in batch]


@dataclass
class Setup:
    service: RuntimeService
    receiver: Receiver
    registry: CollectorRegistry
    client: httpx.AsyncClient
    api_key: str

    async def ingest(self, *events: dict[str, Any]) -> None:
        await self.service.pipeline.ingest_body(
            TenantScope("acme"), orjson.dumps({"events": list(events)})
        )

    async def outbox(self) -> list[NotificationRow]:
        async with self.service.database.session() as session:
            return list(await session.scalars(select(NotificationRow).order_by(NotificationRow.id)))

    async def settled(self, within: float = 30) -> list[NotificationRow]:
        async with asyncio.timeout(within):
            while True:
                rows = await self.outbox()
                if rows and all(r.status != "pending" for r in rows):
                    return rows
                await asyncio.sleep(0.1)


@pytest.fixture
async def setup(database_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    receiver = Receiver()
    receiver.gate.set()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    secrets = tmp_path / "secrets"
    (secrets / "acme-hook").mkdir(parents=True)
    (secrets / "acme-hook" / "hmac").write_bytes(SECRET + b"\n")
    webhooks = [
        {"url": f"http://127.0.0.1:{port}/hook", "secretRef": {"name": "acme-hook", "key": "hmac"},
         "minSeverity": "high"},
        # nobody listens there: every attempt fails, the rows end as dead letters
        {"url": f"http://127.0.0.1:{_free_port()}/hook",
         "secretRef": {"name": "acme-hook", "key": "hmac"}, "minSeverity": "critical"},
        # no such secret: never sent unsigned, a dead letter at once
        {"url": f"http://127.0.0.1:{port}/hook", "secretRef": {"name": "missing", "key": "hmac"},
         "minSeverity": "critical"},
    ]  # fmt: skip
    sets = {"kids-ads": RegulationSet.model_validate(REGULATION)}
    keys = KeyStore.from_directory(
        tmp_path / "keys", ["acme"], create_missing=True, poll_interval=0
    )
    tenant = tenant_document(
        "acme", notifications={"webhooks": webhooks}, gateway={"rateLimit": {"perSecond": 1000}}
    )
    api_key = f"ottc_test_acme_{uuid.uuid4().hex}"
    service = RuntimeService(
        database_url, [runtime_for_tenant(tenant, sets, keys)], keys,
        api_keys={"acme": [api_key]}, scorer=HitScorer(),
    )  # fmt: skip
    await service.start()
    runtime = Runtime(service, delivery=FAST, webhook_secrets=WebhookSecrets(secrets))
    await runtime.notifications.start()
    transport = httpx.ASGITransport(app=runtime.app(manage_lifecycle=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://ottc.test") as client:
        yield Setup(service, receiver, runtime.metrics.registry, client, api_key)
    await runtime.notifications.stop()
    await service.stop()
    await runner.cleanup()


def ad(event_id: str, *, kids: bool = True) -> dict[str, Any]:
    return {
        "specVersion": "1", "id": event_id, "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z", "viewer": {"id": "v", "isKidsProfile": kids},
        "content": {"id": "show-1", "channelId": f"ch-{event_id}"},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": kids},
    }  # fmt: skip


async def test_each_notification_is_processed_once_or_is_a_dead_letter(setup: Setup) -> None:
    receiver = setup.receiver
    receiver.fail_next, receiver.hang_next, receiver.process_then_hang_next = 3, 1, 1
    await setup.ingest(*(ad(f"k{i}") for i in range(4)), ad("calm", kids=False))
    rows = await setup.settled()

    to_receiver = [r for r in rows if r.url.endswith(f":{_port(rows[0].url)}/hook")]
    # 4 critical violations to each webhook, 4 risk alerts (pushed as "high") only to the
    # first one, whose minSeverity is high; the calm event raises nothing
    assert len(rows) == 8 + 4 + 4
    delivered = {r.delivery_id for r in rows if r.status == "delivered"}
    dead = {r.delivery_id for r in rows if r.status == "dead"}
    assert delivered | dead == {r.delivery_id for r in rows}
    assert set(receiver.processed) == delivered  # processed exactly the delivered ones
    assert not delivered & dead
    assert receiver.duplicates == 1  # the processed-then-hung one came back; the key caught it
    assert receiver.rejected == []
    good = [r for r in to_receiver if r.secret_name == "acme-hook"]
    assert {r.status for r in good} == {"delivered"}
    assert max(r.attempts for r in good) >= 2  # failures and stalls were retried
    kinds = sorted(p["type"] for p in receiver.processed.values())
    assert kinds == ["risk.alert"] * 4 + ["violation"] * 4
    violation = next(p for p in receiver.processed.values() if p["type"] == "violation")
    assert violation["tenant"] == "acme"
    assert violation["data"]["ruleId"] == "no-targeted-ads-to-kids"

    unreachable = [r for r in rows if r.status == "dead" and r.secret_name == "acme-hook"]
    assert len(unreachable) == 4
    assert all(r.attempts == FAST.max_attempts for r in unreachable)
    unsigned = [r for r in rows if r.secret_name == "missing"]
    assert all(r.status == "dead" and r.attempts == 1 for r in unsigned)
    assert "signing secret missing/hmac not found" in (unsigned[0].last_error or "")

    listed = await setup.client.get(
        "/v1/notifications/dead-letters", headers={"X-API-Key": setup.api_key}
    )
    assert listed.status_code == 200
    assert {item["deliveryId"] for item in listed.json()["items"]} == dead
    query = "{ deadLetters(first: 100) { edges { node { deliveryId lastError attempts } } } }"
    graph = await setup.client.post(
        "/v1/graphql", json={"query": query}, headers={"X-API-Key": setup.api_key}
    )
    nodes = [e["node"] for e in graph.json()["data"]["deadLetters"]["edges"]]
    assert {n["deliveryId"] for n in nodes} == dead
    retried = await setup.client.post(
        f"/v1/notifications/dead-letters/{unsigned[0].delivery_id}/retry",
        headers={"X-API-Key": setup.api_key},
    )
    assert retried.status_code == 202
    unknown = await setup.client.post(
        "/v1/notifications/dead-letters/nope/retry", headers={"X-API-Key": setup.api_key}
    )
    assert unknown.status_code == 404

    delivered_metric = setup.registry.get_sample_value(
        "ottc_notifications_delivered_total", {"tenant": "acme"}
    )
    assert delivered_metric == len(delivered)
    assert setup.registry.get_sample_value(
        "ottc_notifications_dead_total", {"tenant": "acme"}
    ) == len(dead)


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1].split("/")[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_ingest_never_waits_for_a_stalled_receiver(setup: Setup) -> None:
    receiver = setup.receiver
    receiver.gate.clear()  # the receiver accepts connections but answers nobody
    for batch in range(10):
        await setup.ingest(*(ad(f"b{batch}-{i}") for i in range(5)))
    # every batch was acknowledged while the receiver still holds requests open
    async with asyncio.timeout(10):
        while receiver.waiting == 0:  # noqa: ASYNC110 (polls a counter the handler moves)
            await asyncio.sleep(0.05)
    assert not receiver.processed
    receiver.gate.set()
    rows = await setup.settled(within=60)
    good = [r for r in rows if r.secret_name == "acme-hook" and _port(r.url) == _port(rows[0].url)]
    assert len(good) == 100  # 50 violations + 50 risk alerts
    assert {r.status for r in good} == {"delivered"} or {
        r.delivery_id for r in good if r.status == "delivered"
    } <= set(receiver.processed)
    assert {r.delivery_id for r in good if r.status == "delivered"} == set(receiver.processed)
