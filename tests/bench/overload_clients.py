"""The client side of bench_overload.py: generated batches and the client processes
(asyncio + httpx, one connection a client) that post them and time the answers."""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from ott_runtime.demo.generator import EventGenerator

BATCH = 100
TEMPLATES = 20  # generated batches a tenant; sent again and again under fresh event ids
ID_TOKEN = "RUN0"  # in every generated event id, replaced to make the ids of one sending
STAGGER = 1.0  # seconds over which a case's clients send their first batch


def make_templates(tenants: list[str]) -> dict[str, list[bytes]]:
    start = datetime.now(UTC) - timedelta(hours=6)
    templates: dict[str, list[bytes]] = {}
    for tenant in tenants:
        generator = EventGenerator([tenant], start=start, seed=5, violation_rate=0.03, run=ID_TOKEN)
        pending: list[dict[str, Any]] = []
        batches: list[bytes] = []
        minute = 0
        while len(batches) < TEMPLATES:
            pending += generator.events_at(start + timedelta(seconds=minute * 20), 50)[tenant]
            minute += 1
            while len(pending) >= BATCH and len(batches) < TEMPLATES:
                batches.append(orjson.dumps(pending[:BATCH]))
                pending = pending[BATCH:]
        templates[tenant] = batches
    return templates


class BatchSource:
    """A tenant's batches in order, again and again, under ids of this sending only."""

    def __init__(self, templates: list[bytes], prefix: str) -> None:
        self.templates, self.prefix, self.position = templates, prefix, 0

    def next(self) -> bytes:
        lap, index = divmod(self.position, len(self.templates))
        self.position += 1
        token = f"-{self.prefix}l{lap}-".encode()
        return self.templates[index].replace(f"-{ID_TOKEN}-".encode(), token)


@dataclass
class Tally:
    accepted: list[float] = field(default_factory=list)  # seconds, answered 200
    refused: list[float] = field(default_factory=list)  # seconds, answered 429 or 503
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    events: int = 0
    last_answer: float = 0.0  # time.time()

    def add(self, other: Tally) -> None:
        self.accepted += other.accepted
        self.refused += other.refused
        self.errors += other.errors
        self.events += other.events
        self.last_answer = max(self.last_answer, other.last_answer)
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count


@dataclass
class Share:
    """What one client process measured: a tally per tenant, and how late its event loop
    woke from a 10 ms sleep (the lag it adds to every latency it measures)."""

    tallies: dict[str, Tally]
    lag: list[float]


_TEMPLATES: dict[str, list[bytes]] = {}
_BARRIER: list[Any] = []


def init_worker(templates: dict[str, list[bytes]], barrier: Any) -> None:
    _TEMPLATES.update(templates)
    _BARRIER.append(barrier)


def wait_for_all() -> int:
    _BARRIER[0].wait(300)  # returns once every client process is up and waiting here
    return os.getpid()


async def client(
    http: httpx.AsyncClient, key: str, source: BatchSource, stop_at: float, tally: Tally,
    pause: float,
) -> None:  # fmt: skip
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    body = source.next()
    # clients join over the first second, not all in one millisecond: a burst of 200 at
    # once would be measured as every later refusal's wait
    await asyncio.sleep(random.uniform(0.0, STAGGER))
    while time.time() < stop_at:
        started = time.perf_counter()
        try:
            response = await http.post("/v1/events", content=body, headers=headers)
        except httpx.HTTPError:
            tally.errors += 1
            await asyncio.sleep(1)
            continue
        took = time.perf_counter() - started
        tally.last_answer = time.time()
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        if response.status_code == 200:
            tally.accepted.append(took)
            tally.events += response.json()["accepted"]
            body = source.next()
            if pause:
                await asyncio.sleep(pause)
        elif response.status_code in (429, 503):
            tally.refused.append(took)
            retry_after = float(response.headers.get("retry-after", "1"))
            await asyncio.sleep(retry_after * random.uniform(1.0, 1.5))
        else:
            tally.errors += 1


async def _run_share(
    base: str, keys: dict[str, str], crowd: list[tuple[str, float]], prefix: str,
    start_at: float, seconds: float,
) -> Share:  # fmt: skip
    tls = ssl.create_default_context()  # one for all: each costs milliseconds to make
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [httpx.AsyncClient(base_url=base, timeout=120, limits=limits, verify=tls) for _ in crowd]
    sources = {t: BatchSource(_TEMPLATES[t], prefix) for t in {t for t, _ in crowd}}
    tallies = {tenant: Tally() for tenant, _ in crowd}
    lag: list[float] = []
    try:
        await asyncio.gather(*(http.get("/healthz") for http in pool))  # connections open
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop_at = start_at + seconds

        async def watch_lag() -> None:
            while time.time() < stop_at:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lag.append(time.perf_counter() - before - 0.01)

        await asyncio.gather(
            watch_lag(),
            *(
                client(http, keys[tenant], sources[tenant], stop_at, tallies[tenant], pause)
                for http, (tenant, pause) in zip(pool, crowd, strict=True)
            ),
        )
    finally:
        await asyncio.gather(*(http.aclose() for http in pool))
    return Share(tallies, lag)


def run_share(
    base: str, keys: dict[str, str], crowd: list[tuple[str, float]], prefix: str,
    start_at: float, seconds: float,
) -> Share:  # fmt: skip
    return asyncio.run(_run_share(base, keys, crowd, prefix, start_at, seconds))
