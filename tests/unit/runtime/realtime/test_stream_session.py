"""Stream sessions against a real pipeline and SQLite: resume, filters, lag, heartbeat,
authentication and tenant isolation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson

from ott_runtime.domain.cursors import encode_cursor
from ott_runtime.ingest.pubsub import Message
from ott_runtime.realtime.hub import Delivery, StreamHub
from ott_runtime.realtime.protocol import CLOSE_HEARTBEAT, CLOSE_UNAUTHORIZED, ChannelFilter
from ott_runtime.realtime.session import StreamSession, StreamSettings

from .conftest import KEYS, FakeTransport, Live, ad


@asynccontextmanager
async def session(
    live: Live, tenant: str = "acme", settings: StreamSettings | None = None
) -> AsyncIterator[FakeTransport]:
    transport = FakeTransport()
    runner = StreamSession(
        transport,
        live.realtime.hub,
        live.realtime.replayer,
        settings or live.realtime.settings,
    )
    task = asyncio.create_task(runner.serve(KEYS[tenant], live.authenticate))
    await transport.until(lambda t: bool(t.of_type("welcome")))
    try:
        yield transport
    finally:
        transport.inbox.put_nowait(None)
        await asyncio.wait_for(task, 5)


def messages(transport: FakeTransport, channel: str) -> list[dict[str, Any]]:
    return [f for f in transport.of_type("message") if f["channel"] == channel]


def count(channel: str, n: int) -> Callable[[FakeTransport], bool]:
    return lambda t: len(messages(t, channel)) >= n


async def subscribe(transport: FakeTransport, channel: str, **fields: Any) -> str:
    before = len(transport.of_type("replayed"))
    transport.send(type="subscribe", channel=channel, **fields)
    await transport.until(lambda t: len(t.of_type("replayed")) > before)
    answer = [f for f in transport.of_type("subscribed") if f["channel"] == channel][-1]
    return str(answer["cursor"])


async def test_live_messages_carry_cursors_and_resume_has_no_gap_and_no_duplicate(
    live: Live,
) -> None:
    async with session(live) as first:
        await subscribe(first, "events")
        await live.ingest("acme", ad("e1"), ad("e2"))
        await first.until(count("events", 2))
        got = messages(first, "events")
        assert [m["data"]["id"] for m in got] == ["e1", "e2"]
        cursor = got[0]["cursor"]  # pretend the client only processed e1

    await live.ingest("acme", ad("e3"))  # while disconnected
    async with session(live) as second:
        await subscribe(second, "events", cursor=cursor)
        assert second.of_type("replayed")[-1]["count"] == 2
        await live.ingest("acme", ad("e4"))
        await second.until(count("events", 3))
        # a late live copy of a replayed row (e.g. NOTIFY from another replica) is dropped
        replayed = messages(second, "events")[0]["data"]
        live.realtime.hub.dispatch(Message("acme", "events", replayed))
        await live.ingest("acme", ad("e5"))
        await second.until(count("events", 4))
        ids = [m["data"]["id"] for m in messages(second, "events")]
    assert ids == ["e2", "e3", "e4", "e5"]
    seqs = [m["data"]["seq"] for m in messages(second, "events")]
    assert seqs == sorted(set(seqs))


async def test_filters_apply_to_live_and_replayed_rows(live: Live) -> None:
    await live.ingest("acme", ad("old-high", 40), ad("old-critical", 90))
    async with session(live) as client:
        await subscribe(client, "violations", filter={"minSeverity": "critical"}, cursor="czA")
        await live.ingest("acme", ad("new-high", 40), ad("new-critical", 90), ad("fine", 5))
        await client.until(count("violations", 2))
        await subscribe(client, "alerts", filter={"threshold": 0.9})
        await live.ingest("acme", ad("risky", 45), ad("calm", 5))
        await client.until(count("alerts", 1))
        await asyncio.sleep(0.05)
    assert [m["data"]["eventId"] for m in messages(client, "violations")] == [
        "old-critical",
        "new-critical",
    ]
    assert [m["data"]["eventId"] for m in messages(client, "alerts")] == ["risky"]


async def test_a_tenant_never_sees_another_tenants_messages(live: Live) -> None:
    async with session(live, "acme") as acme, session(live, "globex") as globex:
        await subscribe(acme, "events")
        await subscribe(globex, "events")
        await live.ingest("globex", ad("g1"))
        await live.ingest("acme", ad("a1"))
        await acme.until(count("events", 1))
        await globex.until(count("events", 1))
    assert [m["data"]["id"] for m in messages(acme, "events")] == ["a1"]
    assert [m["data"]["id"] for m in messages(globex, "events")] == ["g1"]


async def test_a_stalled_client_lags_alone_then_catches_up_exactly_once(live: Live) -> None:
    small = StreamSettings(heartbeat_seconds=30, queue_size=3)
    async with session(live, settings=small) as slow, session(live, settings=small) as fast:
        await subscribe(slow, "events")
        await subscribe(fast, "events")
        slow.gate.clear()  # the slow client stops reading
        for batch in range(4):
            await live.ingest("acme", *(ad(f"b{batch}-{i}") for i in range(5)))
            await fast.until(count("events", 5 * (batch + 1)))  # never held back
        assert not messages(slow, "events")
        slow.gate.set()
        await slow.until(count("events", 20))
        (notice,) = slow.of_type("lagged")
        assert notice["dropped"] > 0
    ids = [m["data"]["id"] for m in messages(slow, "events")]
    assert ids == [f"b{b}-{i}" for b in range(4) for i in range(5)]


async def test_two_unanswered_pings_close_the_connection(live: Live) -> None:
    quick = StreamSettings(heartbeat_seconds=0.05)
    async with session(live, settings=quick) as silent:
        await silent.until(lambda t: t.closed is not None, within=2)
    assert silent.closed is not None
    assert silent.closed[0] == CLOSE_HEARTBEAT
    assert len(silent.of_type("ping")) == 2

    async with session(live, settings=quick) as answering:
        for _ in range(8):
            await answering.until(lambda t: len(t.of_type("ping")) > 0)
            answering.send(type="pong")
            await asyncio.sleep(0.03)
        assert answering.closed is None


async def test_authentication_by_first_frame_and_refusals(live: Live) -> None:
    settings = StreamSettings(auth_timeout_seconds=0.2)

    async def attempt(*frames: dict[str, Any]) -> FakeTransport:
        transport = FakeTransport()
        for frame in frames:
            transport.send(**frame)
        runner = StreamSession(transport, live.realtime.hub, live.realtime.replayer, settings)
        await asyncio.wait_for(runner.serve(None, live.authenticate), 2)
        return transport

    wrong = await attempt({"type": "auth", "apiKey": "ottc_not_a_key_at_all_000000"})
    assert wrong.closed == (CLOSE_UNAUTHORIZED, "unknown key")
    not_first = await attempt({"type": "subscribe", "channel": "events"})
    assert not_first.closed is not None
    assert not_first.closed[0] == CLOSE_UNAUTHORIZED
    silent = await attempt()
    assert silent.closed is not None
    assert "auth" in silent.closed[1]

    transport = FakeTransport()
    transport.send(type="auth", apiKey=KEYS["acme"])
    runner = StreamSession(transport, live.realtime.hub, live.realtime.replayer, settings)
    task = asyncio.create_task(runner.serve(None, live.authenticate))
    await transport.until(lambda t: bool(t.of_type("welcome")))
    assert transport.of_type("welcome")[0]["tenant"] == "acme"
    transport.inbox.put_nowait(None)
    await task


async def test_bad_frames_get_clear_errors_and_the_connection_stays(live: Live) -> None:
    async with session(live) as client:
        client.inbox.put_nowait("not json")
        client.send(type="subscribe", channel="everything")
        client.send(type="subscribe", channel="violations", filter={"minSeverity": "huge"})
        client.send(type="subscribe", channel="events", cursor="!!")
        await client.until(lambda t: len(t.of_type("error")) == 4)
        await subscribe(client, "events")
    codes = [e["code"] for e in client.of_type("error")]
    assert codes == ["malformed-json", "invalid-message", "invalid-message", "invalid-cursor"]
    assert "channel" in client.of_type("error")[1]["message"]
    assert "minSeverity" in client.of_type("error")[2]["message"]


def test_one_frame_per_message_is_shared_by_every_feed_that_takes_it() -> None:
    """The hub decides each distinct filter once and hands every matching feed the same
    delivery (whose frame is encoded once); feeds with other filters get only theirs."""
    hub = StreamHub()
    critical = [hub.attach("acme") for _ in range(3)]
    for feed in critical:
        feed.filters["violations"] = ChannelFilter.model_validate({"minSeverity": "critical"})
    regulation = hub.attach("acme")
    regulation.filters["violations"] = ChannelFilter(regulation="gdpr")
    events_only = hub.attach("acme")
    events_only.filters["events"] = ChannelFilter()
    hub.dispatch(Message("acme", "violations", {"seq": 7, "severity": "critical"}))
    hub.dispatch(Message("acme", "violations", {"seq": 8, "severity": "low", "regulation": "gdpr"}))
    taken = [list(feed._items) for feed in critical]
    assert all(len(items) == 1 for items in taken)
    first = taken[0][0]
    assert all(items[0] is first for items in taken)  # one Delivery, one frame
    assert isinstance(first, Delivery)
    assert orjson.loads(first.frame)["cursor"] == encode_cursor(7)
    assert [d.seq for d in regulation._items if isinstance(d, Delivery)] == [8]
    assert list(events_only._items) == []
