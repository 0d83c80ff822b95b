"""Posting events to a server that is killed -9 now and then: the client side of the
resilience test and of `ottc bench resilience` (no pytest here, so the bench imports it).

Each client thread posts batches of new events; a batch without a 2xx answer (the server
died under it, or it was refused) is posted again, with the same event ids, until one comes.
Whatever the server acknowledged must then be stored exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from .killable_server import KillableServer

TENANT_NAME = "acme"
KIDS_EVERY = 5  # every 5th event breaks the kids rule: one critical violation each

REGULATION: dict[str, Any] = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "kids-ads"},
    "spec": {
        "jurisdiction": "US",
        "version": "test",
        "rules": [
            {
                "id": "no-targeted-ads-to-kids",
                "severity": "critical",
                "appliesTo": ["ad.impression"],
                "when": "has(event.viewer.isKidsProfile) && event.viewer.isKidsProfile"
                " && has(event.ad.targeted) && event.ad.targeted",
                "message": "Targeted ad shown on a kids profile",
                "reference": "COPPA 16 CFR 312.5",
            }
        ],
    },
}
TENANT: dict[str, Any] = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": TENANT_NAME},
    "spec": {
        "displayName": "Acme",
        "regulations": [{"name": "kids-ads"}],
        "encryption": {"fields": ["viewer.id"]},
        "gateway": {"rateLimit": {"perSecond": 100000}},
    },
}


def event(number: int) -> dict[str, Any]:
    kids = number % KIDS_EVERY == 0
    return {
        "specVersion": "1",
        "id": f"k-{number:07d}",
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {"id": f"v-{number % 97}", "isKidsProfile": kids},
        "content": {"id": "show-1", "channelId": f"ch-{number}"},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": kids},
    }


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged, shared by the threads."""

    batch_size: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_number: int = 0
    retry: deque[list[dict[str, Any]]] = field(default_factory=deque)
    in_flight: int = 0
    acknowledged: list[str] = field(default_factory=list)  # event ids, in answer order
    answered_batches: int = 0
    retried_batches: int = 0
    duplicates_on_retry: int = 0  # events a retry found already stored (committed, unanswered)
    failed_posts: int = 0
    generating: bool = True

    def take(self) -> tuple[list[dict[str, Any]], bool] | None:
        with self.lock:
            if self.retry:
                self.in_flight += 1
                return self.retry.popleft(), True
            if not self.generating:
                return None
            first = self.next_number
            self.next_number += self.batch_size
            self.in_flight += 1
        return [event(n) for n in range(first, first + self.batch_size)], False

    def answered(self, batch: list[dict[str, Any]], retried: bool, body: dict[str, Any]) -> None:
        with self.lock:
            self.in_flight -= 1
            self.acknowledged.extend(e["id"] for e in batch)
            self.answered_batches += 1
            if retried:
                self.retried_batches += 1
                self.duplicates_on_retry += len(body.get("duplicates", []))

    def unanswered(self, batch: list[dict[str, Any]]) -> None:
        with self.lock:
            self.in_flight -= 1
            self.failed_posts += 1
            self.retry.append(batch)

    def settled(self) -> bool:
        with self.lock:
            return not self.generating and not self.retry and self.in_flight == 0

    @property
    def sent_events(self) -> int:
        return self.next_number


def post_until_stopped(base_url: str, api_key: str, ledger: Ledger) -> None:
    """One client: post batches (new ones, or unanswered ones again) until none are left."""
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        while True:
            taken = ledger.take()
            if taken is None:
                if ledger.settled():
                    return
                time.sleep(0.05)  # another client holds the last batches
                continue
            batch, retried = taken
            try:
                response = client.post("/v1/events", content=orjson.dumps({"events": batch}))
            except httpx.TransportError:  # killed under us, or not up again yet
                ledger.unanswered(batch)
                time.sleep(0.1)
                continue
            if response.is_success:
                ledger.answered(batch, retried, response.json())
            else:  # 429/503 under load, or a 5xx: the batch was not acknowledged
                ledger.unanswered(batch)
                time.sleep(0.1)


def read_all(base_url: str, api_key: str, path: str, key: str) -> list[str]:
    """``key`` of every item of a paged list (/v1/events, /v1/violations); repeats stay."""
    values: list[str] = []
    params: dict[str, str | int] = {"limit": 500}
    with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key}, timeout=60) as client:
        while True:
            page = client.get(path, params=params)
            page.raise_for_status()
            body = page.json()
            values.extend(item[key] for item in body["items"])
            if not body["nextCursor"]:
                return values
            params["cursor"] = body["nextCursor"]


@dataclass(frozen=True)
class KillRun:
    kills: int
    sent_events: int
    acknowledged: list[str]
    stored: list[str]
    violations: list[str]
    retried_batches: int
    duplicates_on_retry: int
    failed_posts: int
    seconds: float


def ingest_through_kills(
    server: KillableServer,
    *,
    kills: int,
    clients: int = 3,
    batch_size: int = 25,
    batches_between_kills: int = 6,
    settle_timeout_s: float = 120,
    on_kill: Callable[[int], None] | None = None,
) -> KillRun:
    """Run the clients against ``server`` (already started), kill -9 it ``kills`` times
    while they post (each time after ``batches_between_kills`` more answers), restart it,
    then let every unanswered batch through and read back what is stored."""
    started = time.monotonic()
    api_key = server.api_key(TENANT_NAME)
    ledger = Ledger(batch_size)
    threads = [
        threading.Thread(target=post_until_stopped, args=(server.base_url, api_key, ledger))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        for kill in range(1, kills + 1):
            target = ledger.answered_batches + batches_between_kills
            while ledger.answered_batches < target:
                time.sleep(0.01)
            server.kill()  # while the other clients' batches are in flight
            if on_kill:
                on_kill(kill)
            server.start()
        target = ledger.answered_batches + batches_between_kills
        while ledger.answered_batches < target:
            time.sleep(0.01)
    finally:
        with ledger.lock:
            ledger.generating = False
        for thread in threads:
            thread.join(timeout=settle_timeout_s)
    assert not any(t.is_alive() for t in threads), "clients still posting after the timeout"
    return KillRun(
        kills=kills,
        sent_events=ledger.sent_events,
        acknowledged=list(ledger.acknowledged),
        stored=read_all(server.base_url, api_key, "/v1/events", "id"),
        violations=read_all(server.base_url, api_key, "/v1/violations", "eventId"),
        retried_batches=ledger.retried_batches,
        duplicates_on_retry=ledger.duplicates_on_retry,
        failed_posts=ledger.failed_posts,
        seconds=time.monotonic() - started,
    )
