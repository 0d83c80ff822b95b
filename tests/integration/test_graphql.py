"""GraphQL at /v1/graphql over SQLite and PostgreSQL: auth and tenant scoping, Relay
paging with filters, mutations and admin scope, DataLoaders (statement counts),
dashboard aggregations, GraphiQL, and subscriptions over graphql-transport-ws."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import uvicorn
from sqlalchemy import event
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .conftest import Deployment, _free_port

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def ad(
    event_id: str, *, kids: bool = False, country: str = "DE", content: str = "show-1"
) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {"id": f"viewer-{event_id}", "isKidsProfile": kids},
        "geo": {"country": country},
        "content": {"id": content, "channelId": f"ch-{event_id}"},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": kids},
    }


async def gql(
    deployment: Deployment, query: str, tenant: str | None = "acme", **variables: Any
) -> dict[str, Any]:
    headers = deployment.headers(tenant) if tenant else {}
    response = await deployment.client.post(
        "/v1/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ingest(
    deployment: Deployment, tenant: str, events: list[dict[str, Any]]
) -> dict[str, Any]:
    result = await gql(
        deployment,
        "mutation P($events: [JSON!]!) {"
        " processEvents(events: $events) { accepted duplicates violations } }",
        tenant,
        events=events,
    )
    assert "errors" not in result, result
    outcome: dict[str, Any] = result["data"]["processEvents"]
    return outcome


VIOLATIONS_PAGE = """
query Page($first: Int!, $after: String) {
  violations(first: $first, after: $after, filter: {minSeverity: CRITICAL}) {
    edges { cursor node { id eventId ruleId severity event { id type payload risk { score } } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def test_paging_filters_nested_reads_and_tenant_scoping(deployment: Deployment) -> None:
    outcome = await ingest(deployment, "acme", [ad(f"k{i}", kids=i % 2 == 0) for i in range(7)])
    assert outcome["accepted"] == 7
    await ingest(deployment, "globex", [ad("g1", kids=True)])

    first = (await gql(deployment, VIOLATIONS_PAGE, first=3))["data"]["violations"]
    assert [e["node"]["eventId"] for e in first["edges"]] == ["k0", "k2", "k4"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    node = first["edges"][0]["node"]
    assert node["severity"] == "CRITICAL"
    assert node["event"]["payload"]["viewer"]["id"] == "viewer-k0"  # decrypted for the tenant
    after = first["pageInfo"]["endCursor"]
    second = (await gql(deployment, VIOLATIONS_PAGE, first=3, after=after))["data"]["violations"]
    assert [e["node"]["eventId"] for e in second["edges"]] == ["k6"]
    assert second["pageInfo"]["hasNextPage"] is False

    newest = """query Newest($before: String) { violations(last: 2, before: $before,
      filter: {minSeverity: CRITICAL}) { edges { node { eventId } }
      pageInfo { hasPreviousPage hasNextPage startCursor } } }"""
    page = (await gql(deployment, newest))["data"]["violations"]
    assert [e["node"]["eventId"] for e in page["edges"]] == ["k4", "k6"]
    assert page["pageInfo"]["hasPreviousPage"] is True
    before = page["pageInfo"]["startCursor"]
    older = (await gql(deployment, newest, before=before))["data"]["violations"]
    assert [e["node"]["eventId"] for e in older["edges"]] == ["k0", "k2"]
    assert older["pageInfo"] == {
        "hasPreviousPage": False,
        "hasNextPage": True,
        "startCursor": older["pageInfo"]["startCursor"],
    }
    mixed = await gql(deployment, "{ violations(first: 1, last: 1) { edges { cursor } } }")
    assert mixed["errors"][0]["message"] == "use first/after or last/before, not both"

    globex = (await gql(deployment, VIOLATIONS_PAGE, "globex", first=50))["data"]["violations"]
    assert [e["node"]["eventId"] for e in globex["edges"]] == ["g1"]
    foreign = await gql(
        deployment,
        f'{{ violation(id: "{node["id"]}") {{ id }} event(id: "k0") {{ id }} }}',
        "globex",
    )
    assert foreign["data"] == {"violation": None, "event": None}


async def test_authentication_and_clear_errors(deployment: Deployment) -> None:
    # over HTTP a missing or wrong key is a 401 problem, as on REST (api.guards)
    anonymous = await deployment.client.post("/v1/graphql", json={"query": "{ tenant { id } }"})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    wrong = await deployment.client.post(
        "/v1/graphql",
        json={"query": "{ tenant { id } }"},
        headers={"X-API-Key": "ottc_wrong_0000000000000000000"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "the API key is unknown or revoked"
    fields = "id plan admin riskThreshold encryptedFields searchableFields"
    tenant = await gql(deployment, f"{{ tenant {{ {fields} }} }}")
    assert tenant["data"]["tenant"] == {
        "id": "acme",
        "plan": "standard",
        "admin": False,
        "riskThreshold": 0.8,
        "encryptedFields": ["viewer.id", "viewer.email", "device.ip"],
        "searchableFields": ["viewer.id"],
    }
    bad_page = await gql(deployment, "{ events(first: 0) { edges { cursor } } }")
    assert bad_page["errors"][0]["message"] == "first must be between 1 and 500"
    bad_cursor = await gql(deployment, '{ events(after: "nope") { edges { cursor } } }')
    assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    invalid = await gql(deployment, 'mutation { processEvents(events: [{id: "x"}]) { accepted } }')
    assert invalid["errors"][0]["extensions"]["code"] == "INVALID_EVENTS"
    assert "type" in invalid["errors"][0]["message"]


@SQLITE_ONLY
async def test_acknowledge_and_admin_scope(deployment: Deployment) -> None:
    outcome = await ingest(deployment, "acme", [ad("k1", kids=True)])
    violation_id = outcome["violations"][0]["id"]
    ack = (
        f'mutation {{ acknowledgeViolation(id: "{violation_id}", by: "desk", note: "fixed")'
        " { acknowledged acknowledgedBy note } }"
    )
    assert (await gql(deployment, ack))["data"]["acknowledgeViolation"] == {
        "acknowledged": True,
        "acknowledgedBy": "desk",
        "note": "fixed",
    }
    other = await gql(deployment, ack, "globex")
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    refused = await gql(deployment, "mutation { clearCache { apiKeys } }")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    admin_key = "ottc_admin_acme_0123456789abcdef"
    await deployment.service.store.directory.register_key("acme", admin_key, label="admin")
    response = await deployment.client.post(
        "/v1/graphql",
        json={"query": "mutation { clearCache { apiKeys } }"},
        headers={"X-API-Key": admin_key},
    )
    assert response.json()["data"]["clearCache"]["apiKeys"] >= 2  # acme's and the admin key


@contextmanager
def statements(deployment: Deployment) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = deployment.service.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


NESTED = """{ violations(first: 100) { edges { node { id event { id payload risk { score }
  violations { id ruleId } } } } } }"""


async def test_dataloaders_keep_statement_count_flat(deployment: Deployment) -> None:
    await ingest(deployment, "acme", [ad(f"a{i}", kids=True) for i in range(3)])
    await gql(deployment, NESTED)  # warm the key cache
    with statements(deployment) as few:
        small = await gql(deployment, NESTED)
    await ingest(deployment, "acme", [ad(f"b{i}", kids=True) for i in range(40)])
    with statements(deployment) as many:
        large = await gql(deployment, NESTED)
    assert len(small["data"]["violations"]["edges"]) == 3
    assert len(large["data"]["violations"]["edges"]) == 43
    assert all(e["node"]["event"]["violations"] for e in large["data"]["violations"]["edges"])
    # page + events + risk + violations-of-events (+ the admin-label lookup), whatever the size
    assert len(many) == len(few) <= 5, many


@SQLITE_ONLY
async def test_dashboard_aggregations_and_graphiql(deployment: Deployment) -> None:
    await ingest(
        deployment,
        "acme",
        [
            ad("d1", kids=True, country="DE"),
            ad("d2", kids=True, country="DE"),
            ad("f1", kids=True, country="FR", content="show-2"),
            ad("ok", country="FR"),
        ],
    )
    window = 'since: "2026-11-26T00:00:00Z", until: "2026-11-27T00:00:00Z"'
    result = await gql(
        deployment,
        f"{{ violationHeatmap({window}) {{ hour region count }}"
        f"   violationNetwork({window}) {{ contentId region rule count }}"
        "    forecast(historyHours: 6, horizonHours: 3)"
        "      { method points { hour forecast lower upper } } }",
    )
    data = result["data"]
    assert data["violationHeatmap"] == [
        {"hour": "2026-11-26T20:00:00Z", "region": "DE", "count": 2},
        {"hour": "2026-11-26T20:00:00Z", "region": "FR", "count": 1},
    ]
    assert data["violationNetwork"][0] == {
        "contentId": "show-1",
        "region": "DE",
        "rule": "kids-ads/no-targeted-ads-to-kids",
        "count": 2,
    }
    assert data["forecast"]["method"].startswith("statistical")
    assert len(data["forecast"]["points"]) == 9
    assert data["forecast"]["points"][-1]["upper"] is not None

    page = await deployment.client.get("/v1/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    # the bundled page: scripts and styles from this server only, under the dashboard's CSP
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "../dashboard/assets/graphiql.js" in sources
    assert not [s for s in sources if "//" in s and not s.startswith("data:")], sources
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await deployment.client.get("/dashboard/assets/graphiql.js")
    assert script.status_code == 200
    assert len(script.content) > 100_000  # GraphiQL, React and graphql-js, minified


@pytest.fixture
async def served(deployment: Deployment) -> AsyncIterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        deployment.runtime.app(manage_lifecycle=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


@SQLITE_ONLY
async def test_subscriptions_over_graphql_transport_ws(deployment: Deployment, served: str) -> None:
    async with connect(
        f"ws://{served}/v1/graphql", subprotocols=["graphql-transport-ws"]
    ) as socket:  # type: ignore[list-item]
        await socket.send(
            orjson.dumps(
                {"type": "connection_init", "payload": {"apiKey": deployment.keys["acme"]}}
            ).decode()
        )
        ack = orjson.loads(await socket.recv())
        assert ack == {"type": "connection_ack", "payload": {"tenant": "acme"}}
        for sub_id, query in (
            (
                "v",
                "subscription { violations(filter: {minSeverity: CRITICAL})"
                " { eventId ruleId severity } }",
            ),
            ("r", "subscription { riskAlerts(threshold: 0.0) { eventId score } }"),
        ):
            await socket.send(
                orjson.dumps(
                    {"id": sub_id, "type": "subscribe", "payload": {"query": query}}
                ).decode()
            )
        await asyncio.sleep(0.2)  # subscriptions registered
        await ingest(deployment, "globex", [ad("g1", kids=True)])  # another tenant: never seen
        await ingest(deployment, "acme", [ad("a1"), ad("a2", kids=True)])
        frame = orjson.loads(await asyncio.wait_for(socket.recv(), 5))
    assert frame == {
        "id": "v",
        "type": "next",
        "payload": {
            "data": {
                "violations": {
                    "eventId": "a2",
                    "ruleId": "no-targeted-ads-to-kids",
                    "severity": "CRITICAL",
                }
            }
        },
    }


@SQLITE_ONLY
async def test_subscription_socket_without_a_valid_key_is_closed(
    deployment: Deployment, served: str
) -> None:
    for payload in ({}, {"apiKey": "ottc_wrong_key_000000000000000"}):
        async with connect(
            f"ws://{served}/v1/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ) as socket:
            await socket.send(
                orjson.dumps({"type": "connection_init", "payload": payload}).decode()
            )
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403
