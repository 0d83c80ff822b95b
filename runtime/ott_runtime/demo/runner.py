"""``ottc demo``: the runtime plus the generator feeding it over HTTP, with live progress.

The simulated clock starts ``backfill`` in the past and runs ``speed`` times faster than
real time until it reaches the present (so a day of viewing cycles plays in minutes),
then follows real time. Events are never stamped in the future.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import uvicorn
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ott_runtime.demo.generator import Event, EventGenerator, audience_factor
from ott_runtime.ingest.limits import MAX_EVENTS_PER_BATCH

TICK_SECONDS = 0.5
MEAN_AUDIENCE = 1.0


@dataclass
class DemoSettings:
    rate: float = 50.0  # events per real second at an average hour
    speed: float = 120.0  # simulated seconds per real second while catching up
    backfill: timedelta = timedelta(days=1)
    duration: float | None = None  # real seconds; None = until interrupted
    seed: int = 7
    violation_rate: float = 0.03
    anomaly_rate: float = 0.05
    verify: ssl.SSLContext | bool = True  # the CA to trust when the demo serves HTTPS


@dataclass
class DemoProgress:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    violations: Counter[str] = field(default_factory=Counter)  # by severity
    by_tenant: Counter[str] = field(default_factory=Counter)
    simulated_now: datetime | None = None
    started: float = field(default_factory=time.monotonic)

    def table(self, generator: EventGenerator) -> Table:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        table = Table(title="ottc demo (Ctrl-C to stop)", show_header=False)
        table.add_row(
            "simulated time",
            f"{self.simulated_now:%a %Y-%m-%d %H:%M} UTC" if self.simulated_now else "-",
        )
        table.add_row(
            "events sent", f"{self.sent} ({self.sent / elapsed:.0f}/s), {self.rejected} rejected"
        )
        table.add_row(
            "per tenant", ", ".join(f"{t} {n}" for t, n in sorted(self.by_tenant.items()))
        )
        table.add_row(
            "violations", ", ".join(f"{s} {n}" for s, n in sorted(self.violations.items())) or "0"
        )
        injected = sum(generator.stats.injected.values())
        table.add_row(
            "injected", f"{injected} violations, {generator.stats.anomalies} anomaly bursts"
        )
        return table


async def _post(
    client: httpx.AsyncClient, api_key: str, events: list[Event], progress: DemoProgress
) -> None:
    for start in range(0, len(events), MAX_EVENTS_PER_BATCH):
        chunk = events[start : start + MAX_EVENTS_PER_BATCH]
        progress.sent += len(chunk)
        response = await client.post(
            "/v1/events",
            content=orjson.dumps(chunk),
            headers={"X-API-Key": api_key, "Content-Type": "application/json"},
        )
        if response.status_code != 200:
            progress.rejected += len(chunk)
            continue
        body = response.json()
        progress.accepted += body["accepted"]
        for violation in body["violations"]:
            progress.violations[violation["severity"]] += 1


async def feed(
    base_url: str,
    api_keys: dict[str, str],
    settings: DemoSettings,
    progress: DemoProgress,
    generator: EventGenerator,
    sim_start: datetime,
) -> None:
    rng = random.Random(settings.seed + 1)
    real_start = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=30, verify=settings.verify) as client:
        while settings.duration is None or time.monotonic() - real_start < settings.duration:
            tick_started = time.monotonic()
            now = datetime.now(UTC)
            simulated = min(
                sim_start + timedelta(seconds=(tick_started - real_start) * settings.speed), now
            )
            progress.simulated_now = simulated
            expected = settings.rate * TICK_SECONDS * audience_factor(simulated) / MEAN_AUDIENCE
            count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
            batches = generator.events_at(simulated, count)
            await asyncio.gather(
                *(
                    _post(client, api_keys[t], events, progress)
                    for t, events in batches.items()
                    if events
                )
            )
            for tenant, events in batches.items():
                progress.by_tenant[tenant] += len(events)
            await asyncio.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - tick_started)))


async def run_demo(
    server: uvicorn.Server,
    base_url: str,
    api_keys: dict[str, str],
    settings: DemoSettings,
    console: Console,
) -> DemoProgress:
    """Serves and feeds until ``settings.duration`` passes (or the task is cancelled)."""
    serving = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn exposes a flag, not an event
        if serving.done():
            await serving  # startup failed: raise its error
            raise RuntimeError("the server stopped during startup")
        await asyncio.sleep(0.05)
    sim_start = datetime.now(UTC) - settings.backfill
    generator = EventGenerator(
        sorted(api_keys), start=sim_start, seed=settings.seed,
        violation_rate=settings.violation_rate, anomaly_rate=settings.anomaly_rate,
        run=secrets.token_hex(3),
    )  # fmt: skip
    progress = DemoProgress()
    try:
        with Live(
            Group(progress.table(generator)), console=console, refresh_per_second=2, transient=False
        ) as live:
            feeding = asyncio.create_task(
                feed(base_url, api_keys, settings, progress, generator, sim_start)
            )
            while not feeding.done():
                live.update(Group(progress.table(generator)))
                await asyncio.sleep(0.5)
            await feeding
            live.update(Group(progress.table(generator)))
    finally:
        server.should_exit = True
        await serving
    return progress
