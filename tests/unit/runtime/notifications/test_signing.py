"""Webhook signatures, replay window and backoff."""

from __future__ import annotations

import random

import pytest

from ott_runtime.notifications.delivery import DeliverySettings, backoff
from ott_runtime.notifications.signing import InvalidSignature, signed_headers, verify

SECRET = b"s3cret-for-tests"
BODY = b'{"id":"d1","type":"violation"}'


def test_a_signed_request_verifies_and_names_its_delivery() -> None:
    headers = signed_headers(SECRET, BODY, "d1", "violation", now=1_000_000)
    assert headers["X-OTTC-Signature"].startswith("v1=")
    assert verify(SECRET, BODY, headers, now=1_000_100) == "d1"


@pytest.mark.parametrize(
    ("secret", "body", "now", "reason"),
    [
        (b"other-secret", BODY, 1_000_000, "does not match"),
        (SECRET, BODY + b" ", 1_000_000, "does not match"),
        (SECRET, BODY, 1_000_301, "outside the tolerance"),  # replayed five minutes later
        (SECRET, BODY, 999_699, "outside the tolerance"),
    ],
)
def test_tampering_and_replays_are_refused(
    secret: bytes, body: bytes, now: int, reason: str
) -> None:
    headers = signed_headers(SECRET, BODY, "d1", "violation", now=1_000_000)
    with pytest.raises(InvalidSignature, match=reason):
        verify(secret, body, headers, now=now)


def test_a_timestamp_cannot_be_moved_without_breaking_the_signature() -> None:
    headers = signed_headers(SECRET, BODY, "d1", "violation", now=1_000_000)
    headers["X-OTTC-Timestamp"] = "1000600"  # an attacker refreshes the stamp
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(SECRET, BODY, headers, now=1_000_600)
    with pytest.raises(InvalidSignature, match="missing"):
        verify(SECRET, BODY, {"X-OTTC-Timestamp": "1"})


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    settings = DeliverySettings(base_delay=1.0, max_delay=30.0)
    rng = random.Random(7)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 30.0)):
        delays = [backoff(attempt, settings, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 150  # jittered, not in lockstep
