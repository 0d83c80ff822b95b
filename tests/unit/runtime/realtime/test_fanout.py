"""NOTIFY payload packing for the cross-replica fan-out (the live path is tested with two
processes on one PostgreSQL in tests/integration/test_stream.py)."""

from __future__ import annotations

from ott_runtime.ingest.pubsub import Message
from ott_runtime.realtime.fanout import (
    MAX_PAYLOAD,
    PostgresFanout,
    origin_prefix,
    pack,
    plain_dsn,
    unpack,
)


def test_messages_are_packed_below_the_notify_limit_in_order() -> None:
    messages = [Message("acme", "events", {"seq": i, "id": f"e{i}" * 20}) for i in range(300)]
    payloads = pack("replica-a", messages)
    assert len(payloads) > 1
    assert all(len(p.encode()) < MAX_PAYLOAD for p in payloads)
    unpacked = [m for p in payloads for m in unpack(p)[1]]
    assert unpacked == messages
    assert {unpack(p)[0] for p in payloads} == {"replica-a"}


def test_a_message_too_big_for_notify_is_skipped_not_split() -> None:
    big = Message("acme", "violations", {"seq": 1, "note": "x" * 9000})
    small = Message("acme", "violations", {"seq": 2})
    (payload,) = pack("a", [big, small])
    assert unpack(payload)[1] == [small]  # the big one reaches clients on resume


def test_a_replica_ignores_its_own_notifications() -> None:
    delivered: list[Message] = []
    fanout = PostgresFanout("postgresql://u@h/db", delivered.append, lambda: None)
    message = Message("acme", "events", {"seq": 7})
    (own,) = pack(fanout.origin, [message])
    (other,) = pack("another-replica", [message])
    fanout._on_notify(None, 0, "ottc_stream", own)
    fanout._on_notify(None, 0, "ottc_stream", "not json")
    fanout._on_notify(None, 0, "ottc_stream", other)
    assert delivered == [message]
    # its own are known by their first bytes and skipped without being decoded at all
    fanout._on_notify(None, 0, "ottc_stream", origin_prefix(fanout.origin) + "not json")
    assert delivered == [message]
    assert own.startswith(origin_prefix(fanout.origin))
    assert not other.startswith(origin_prefix(fanout.origin))
    assert plain_dsn("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
