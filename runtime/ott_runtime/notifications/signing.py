"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>``.

Every request carries:

- ``X-OTTC-Timestamp``: Unix seconds when this attempt was signed;
- ``X-OTTC-Signature``: ``v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>``;
- ``X-OTTC-Delivery``: the notification's id, the same on every retry (idempotency key);
- ``X-OTTC-Event``: ``violation`` or ``risk.alert``.

A receiver recomputes the signature over the raw body, compares in constant time, refuses
a timestamp more than five minutes from its clock (a captured request cannot be replayed
later) and drops a delivery id it has already processed (retries are at-least-once).
:func:`verify` does all but the last.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE = "X-OTTC-Signature"
TIMESTAMP = "X-OTTC-Timestamp"
DELIVERY = "X-OTTC-Delivery"
EVENT = "X-OTTC-Event"
TOLERANCE_SECONDS = 300


class InvalidSignature(Exception):
    pass


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def signed_headers(
    secret: bytes, body: bytes, delivery_id: str, kind: str, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(secret, timestamp, body),
        DELIVERY: delivery_id,
        EVENT: kind,
    }


def verify(
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Checks a received request; returns its delivery id or raises InvalidSignature."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp, given = lowered.get(TIMESTAMP.lower()), lowered.get(SIGNATURE.lower())
    delivery = lowered.get(DELIVERY.lower())
    if not stamp or not given or not delivery:
        raise InvalidSignature("missing signature, timestamp or delivery header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("the timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise InvalidSignature("the timestamp is outside the tolerance (replayed or skewed)")
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise InvalidSignature("the signature does not match")
    return delivery
