"""The tenant-isolation matrix: tenant A's key never sees tenant B's events, violations,
usage or reports, over REST, GraphQL, the /v1/stream socket and GraphQL subscriptions, on
SQLite and PostgreSQL, including by guessing B's ids and cursors.

One real server (uvicorn on loopback) per database, two tenants: "alpha" (A, whose key
asks) and "bravo" (B, whose data must never show). B's data carries markers (ids, viewer,
content, the tenant's name) that no answer to A may contain.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from ott_runtime.devcluster.postgres import PostgresCluster
from ott_runtime.domain.cursors import encode_cursor

from .conftest import REGULATION, serve_in_thread

A, B = "alpha", "bravo"
B_MARKERS = ("bravo", "Bravo")  # in every B id, viewer, content and channel, and its name
B_EVENTS = 40  # many more than A ever sends, so a leaked count shows
SHARED_ID = "common-1"  # an event id B uses that A then sends too


def tenant(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {
            "displayName": name.title(),
            "regulations": [{"name": "kids-ads"}],
            "encryption": {"fields": ["viewer.id", "viewer.email"], "searchable": ["viewer.id"]},
            "gateway": {"rateLimit": {"perSecond": 100000}},
        },
    }


def ad(tenant_name: str, event_id: str, *, kids: bool = True) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {
            "id": f"{tenant_name}-viewer",
            "email": f"{tenant_name}@example.com",
            "isKidsProfile": kids,
        },
        "geo": {"country": "DE"},
        "content": {"id": f"{tenant_name}-show", "channelId": f"{tenant_name}-ch-{event_id}"},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": kids},
    }


@dataclass
class World:
    base: str
    keys: dict[str, str]
    b_violations: list[str]  # B's violation ids, for guessing
    b_cursor: str  # a cursor from B's own event listing

    def headers(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[name]}

    async def post_events(self, name: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            response = await client.post(
                "/v1/events", content=orjson.dumps({"events": events}), headers=self.headers(name)
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    root = tmp_path_factory.mktemp(f"isolation-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'ottc.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = asyncio.run(cluster.create_database())
    documents = [REGULATION, tenant(A), tenant(B)]
    with serve_in_thread(documents, root, url) as (port, api_keys):
        base = f"http://127.0.0.1:{port}"
        keys = {name: tenant_keys[0] for name, tenant_keys in api_keys.items()}
        seeded = World(base, keys, [], "")
        asyncio.run(seeded.post_events(A, [ad(A, f"alpha-e{i}") for i in range(3)]))
        b_events = [ad(B, f"bravo-e{i}") for i in range(B_EVENTS - 1)] + [ad(B, SHARED_ID)]
        outcome = asyncio.run(seeded.post_events(B, b_events))
        seeded.b_violations = [v["id"] for v in outcome["violations"]]
        assert len(seeded.b_violations) == B_EVENTS
        page = httpx.get(f"{base}/v1/events?limit=5", headers=seeded.headers(B)).json()
        seeded.b_cursor = page["nextCursor"]
        yield seeded


def assert_nothing_of_b(text: str, world: World, where: str) -> None:
    for marker in (*B_MARKERS, *world.b_violations):
        assert marker not in text, (where, marker, text[:600])


# -- REST ---------------------------------------------------------------------------------

REST_READS = [
    "/v1/events",
    "/v1/events?content=bravo-show",
    "/v1/events?field=viewer.id&value=bravo-viewer",
    "/v1/events?severity=low",
    "/v1/violations",
    "/v1/violations?content=bravo-show",
    "/v1/violations?acknowledged=false",
    "/v1/reports?period=2026-11",
    "/v1/reports?period=2026-11&format=csv",
    "/v1/reports?period=2026-11&format=html",
    "/v1/analytics?since=2026-11-26T00:00:00Z&until=2026-11-27T00:00:00Z",
    "/v1/usage",
    "/v1/keys",
    "/v1/regulations",
]


async def rest_read(world: World, path: str) -> None:
    async with httpx.AsyncClient(base_url=world.base, headers=world.headers(A)) as client:
        response = await client.get(path)
    assert response.status_code == 200, (path, response.text)
    assert_nothing_of_b(response.text, world, path)


async def rest_guess_b_cursor(world: World) -> None:
    """B's cursor in A's listing pages on through A's rows only."""
    async with httpx.AsyncClient(base_url=world.base, headers=world.headers(A)) as client:
        for path in ("/v1/events", "/v1/violations"):
            response = await client.get(path, params={"cursor": world.b_cursor})
            assert response.status_code == 200, response.text
            assert_nothing_of_b(response.text, world, path)


def same_answer(guessed: str, guess: str, unknown: str, made_up: str) -> None:
    """B's id gets the answer an id nobody has gets (the id itself may be echoed back)."""
    assert guessed.replace(guess, "ID") == unknown.replace(made_up, "ID"), (guessed, unknown)


async def rest_ack_b_violation(world: World) -> None:
    made_up = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=world.base, headers=world.headers(A)) as client:
        unknown = await client.post(f"/v1/violations/{made_up}/ack")
        assert unknown.status_code == 404, unknown.text
        for guess in world.b_violations[:3]:
            stolen = await client.post(f"/v1/violations/{guess}/ack")
            assert stolen.status_code == 404, stolen.text
            assert stolen.headers["content-type"] == "application/problem+json"
            same_answer(stolen.text, guess, unknown.text, made_up)
        mine = await client.get("/v1/violations?acknowledged=true", headers=world.headers(B))
    assert mine.json()["items"] == []  # none of B's was acknowledged by those attempts


async def rest_usage_counts_only_a(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.base) as client:
        usage = (await client.get("/v1/usage", headers=world.headers(A))).json()
        listed = (await client.get("/v1/events?limit=500", headers=world.headers(A))).json()
    assert usage["tenant"] == A
    assert usage["events"] <= len(listed["items"]) < B_EVENTS


async def rest_reuse_b_event_id(world: World) -> None:
    """An id B used is new to A: accepted, no 'duplicate' that would tell B's ids apart."""
    outcome = await world.post_events(A, [ad(A, SHARED_ID, kids=False)])
    assert outcome["duplicates"] == []
    assert outcome["accepted"] == 1
    async with httpx.AsyncClient(base_url=world.base) as client:
        theirs = await client.get(
            "/v1/events", params={"field": "viewer.id", "value": "bravo-viewer"},
            headers=world.headers(B),
        )  # fmt: skip
    ids = [item["id"] for item in theirs.json()["items"]]
    assert SHARED_ID in ids  # B's event is still B's, unchanged


# -- GraphQL ------------------------------------------------------------------------------

GRAPHQL_READS = {
    "tenant": "{ tenant { id displayName } }",
    "events": "{ events(first: 500) { edges { cursor node { id contentId payload } } } }",
    "event by B's id": '{ event(id: "bravo-e0") { id } }',
    "violations": (
        "{ violations(first: 500) { edges { node { id eventId contentId message } } } }"
    ),
    "riskScores": "{ riskScores(first: 500) { edges { node { id eventId } } } }",
    "deadLetters": "{ deadLetters { edges { node { deliveryId payload } } } }",
    "report": (
        '{ report(since: "2026-11-01T00:00:00Z", until: "2026-12-01T00:00:00Z")'
        " { eventTotals rows { ruleId count topContent } } }"
    ),
    "violationHeatmap": (
        '{ violationHeatmap(since: "2026-11-26T00:00:00Z", until: "2026-11-27T00:00:00Z")'
        " { hour region count } }"
    ),
    "violationNetwork": (
        '{ violationNetwork(since: "2026-11-26T00:00:00Z", until: "2026-11-27T00:00:00Z")'
        " { contentId region rule count } }"
    ),
    "forecast": "{ forecast(includeEvents: true) { points { hour events violations } } }",
    "usage": "{ usage { hour events apiCalls } }",
}


async def gql_text(world: World, query: str, **variables: Any) -> str:
    async with httpx.AsyncClient(base_url=world.base, headers=world.headers(A)) as client:
        response = await client.post("/v1/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.text


async def gql(world: World, query: str, **variables: Any) -> dict[str, Any]:
    text = await gql_text(world, query, **variables)
    assert_nothing_of_b(text, world, query)
    body: dict[str, Any] = orjson.loads(text)
    return body


async def graphql_read(world: World, query: str) -> None:
    body = await gql(world, query)
    assert "errors" not in body, body


async def graphql_guess_b_ids(world: World) -> None:
    body = await gql(
        world,
        "query G($v: ID!, $after: String) { violation(id: $v) { id }"
        ' event(id: "bravo-e2") { id }'
        " events(first: 500, after: $after) { edges { node { id } } } }",
        v=world.b_violations[0],
        after=world.b_cursor,
    )
    assert body["data"]["violation"] is None
    assert body["data"]["event"] is None


async def graphql_ack_b_violation(world: World) -> None:
    mutation = "mutation A($id: ID!) { acknowledgeViolation(id: $id) { id acknowledged } }"
    made_up, guess = str(uuid.uuid4()), world.b_violations[1]
    unknown = await gql_text(world, mutation, id=made_up)
    stolen = await gql_text(world, mutation, id=guess)
    same_answer(stolen, guess, unknown, made_up)
    body = orjson.loads(stolen)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    async with httpx.AsyncClient(base_url=world.base) as client:
        mine = await client.get("/v1/violations?acknowledged=true", headers=world.headers(B))
    assert mine.json()["items"] == []


async def graphql_usage_counts_only_a(world: World) -> None:
    body = await gql(world, "{ usage { events } events(first: 500) { edges { cursor } } }")
    used = sum(hour["events"] for hour in body["data"]["usage"])
    assert used <= len(body["data"]["events"]["edges"]) < B_EVENTS


# -- live: /v1/stream and GraphQL subscriptions --------------------------------------------


@asynccontextmanager
async def socket(world: World, path: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    async with connect(world.base.replace("http://", "ws://") + path, **kwargs) as opened:
        yield opened


async def receive_until(
    opened: ClientConnection, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while not frames or not done(frames[-1]):
            frame = orjson.loads(await opened.recv())
            if frame.get("type") == "ping":
                await opened.send('{"type": "pong"}')
                continue
            frames.append(frame)
    return frames


# the fields each server frame of /v1/stream carries (realtime/protocol.py)
STREAM_FRAMES: dict[str, frozenset[str]] = {
    "welcome": frozenset({"tenant", "channels"}),
    "subscribed": frozenset({"channel", "cursor"}),
    "message": frozenset({"channel", "cursor", "data"}),
    "replayed": frozenset({"channel", "count"}),
    "lagged": frozenset({"dropped", "resumeFrom"}),
    "unsubscribed": frozenset({"channel"}),
    "error": frozenset({"code", "message"}),
}
STREAM_CHANNELS = ("events", "violations", "alerts")


async def stream_until(
    opened: ClientConnection, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The /v1/stream frames up to the first after which ``done(frames)`` holds, read as a
    client must: each ping answered (and left out) and each frame dispatched on its type,
    which must be documented and carry its fields (an assertion showing the frame, not a
    KeyError in a predicate)."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while not frames or not done(frames):
            frame = orjson.loads(await opened.recv())
            kind = frame.get("type")
            if kind == "ping":
                await opened.send('{"type": "pong"}')
                continue
            assert kind in STREAM_FRAMES, ("undocumented frame", frame)
            assert STREAM_FRAMES[kind] <= frame.keys(), ("frame lacks a field", frame)
            frames.append(frame)
    return frames


def replayed_all(frames: list[dict[str, Any]]) -> bool:
    """Every channel's replay ended (by channel: a lag catch-up ends with `replayed` too)."""
    ended = {f["channel"] for f in frames if f["type"] == "replayed"}
    return ended >= set(STREAM_CHANNELS)


def violation_of(event_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    def arrived(frames: list[dict[str, Any]]) -> bool:
        last = frames[-1]
        return bool(
            last["type"] == "message"
            and last["channel"] == "violations"
            and last["data"]["eventId"] == event_id
        )

    return arrived


async def stream_live_and_replayed(world: World) -> None:
    """A subscribes to every channel, from the very first row (a cursor A never got):
    the replay holds A's rows only, and B's new events never arrive while A's do."""
    async with socket(world, "/v1/stream", additional_headers=world.headers(A)) as opened:
        frames = await stream_until(opened, lambda _: True)  # the first frame
        assert frames[0]["type"] == "welcome", frames
        assert frames[0]["tenant"] == A
        for channel in STREAM_CHANNELS:
            subscribe: dict[str, Any] = {
                "type": "subscribe",
                "channel": channel,
                "cursor": encode_cursor(0),
            }
            if channel == "alerts":
                subscribe["filter"] = {"threshold": 0}
            await opened.send(orjson.dumps(subscribe).decode())
        frames += await stream_until(opened, replayed_all)
        await world.post_events(B, [ad(B, "bravo-live")])
        await world.post_events(A, [ad(A, "alpha-live")])
        frames += await stream_until(opened, violation_of("alpha-live"))
    assert [f for f in frames if f["type"] == "error"] == []
    messages = [f for f in frames if f["type"] == "message"]
    replayed = [f["data"]["eventId"] for f in messages if f["channel"] == "violations"]
    assert {"alpha-e0", "alpha-live"} <= set(replayed)
    assert_nothing_of_b(orjson.dumps(frames).decode(), world, "/v1/stream")


async def subscriptions_live(world: World) -> None:
    async with socket(world, "/v1/graphql", subprotocols=["graphql-transport-ws"]) as opened:
        init = {"type": "connection_init", "payload": {"apiKey": world.keys[A]}}
        await opened.send(orjson.dumps(init).decode())
        assert orjson.loads(await opened.recv())["type"] == "connection_ack"
        for sub_id, query in (
            ("v", "subscription { violations { eventId contentId message } }"),
            ("r", "subscription { riskAlerts(threshold: 0.0) { eventId score } }"),
        ):
            message = {"id": sub_id, "type": "subscribe", "payload": {"query": query}}
            await opened.send(orjson.dumps(message).decode())
        await asyncio.sleep(0.3)  # subscribed (the protocol does not confirm)
        await world.post_events(B, [ad(B, "bravo-sub")])
        await world.post_events(A, [ad(A, "alpha-sub")])
        frames = await receive_until(
            opened,
            lambda f: (
                f.get("id") == "v" and f["payload"]["data"]["violations"]["eventId"] == "alpha-sub"
            ),
        )
    assert_nothing_of_b(orjson.dumps(frames).decode(), world, "subscriptions")


# -- the matrix ---------------------------------------------------------------------------

Probe = Callable[[World], Awaitable[None]]


def _bind(probe: Callable[[World, str], Awaitable[None]], argument: str) -> Probe:
    async def bound(world: World) -> None:
        await probe(world, argument)

    return bound


MATRIX: dict[str, Probe] = {
    **{f"rest GET {path}": _bind(rest_read, path) for path in REST_READS},
    "rest B's cursor": rest_guess_b_cursor,
    "rest ack B's violation": rest_ack_b_violation,
    "rest usage": rest_usage_counts_only_a,
    "rest B's event id": rest_reuse_b_event_id,
    **{f"graphql {name}": _bind(graphql_read, query) for name, query in GRAPHQL_READS.items()},
    "graphql B's ids and cursor": graphql_guess_b_ids,
    "graphql ack B's violation": graphql_ack_b_violation,
    "graphql usage": graphql_usage_counts_only_a,
    "stream": stream_live_and_replayed,
    "subscriptions": subscriptions_live,
}  # fmt: skip


@pytest.mark.parametrize("probe", MATRIX.values(), ids=MATRIX.keys())
async def test_tenant_a_never_sees_tenant_b(world: World, probe: Probe) -> None:
    await probe(world)
