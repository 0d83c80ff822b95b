"""Blind-index lookups: "every event of this viewer" on an encrypted, searchable field, on
SQLite and PostgreSQL, over one tenant's stored events. The baseline in the same run is a
lookup of about as many events by their type, which a plain B-tree index answers in one
range scan; the blind index instead seeks each of the tenant's buckets
(storage/blind_indexes.py), so its cost grows with the events stored.

    .venv/bin/python tests/bench/bench_lookup.py          (or: ottc bench lookup)
    OTTC_BENCH_QUICK=1 ...                                 smaller database
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from ott_runtime.benchreport import BenchReport, percentile
from ott_runtime.crypto import FieldCipher
from ott_runtime.devcluster.postgres import throwaway_postgres
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.storage import Database, EventQuery, NewEvent, Store, TenantScope
from ott_runtime.storage.tables import BLIND_INDEX_BUCKET_BITS

QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
EVENTS = {"sqlite": 50_000 if QUICK else 400_000, "postgresql": 50_000 if QUICK else 200_000}
VIEWERS = 20_000  # ~20 events a viewer at 400,000
RARE_TYPE = "grievance.filed"  # one event in RARE_EVERY: the baseline's matches
RARE_EVERY = VIEWERS
BATCH = 2_000
LOOKUPS = 40
TENANT = TenantScope("acme")
START = datetime(2026, 11, 1, tzinfo=UTC)


async def fill(store: Store, cipher: FieldCipher, count: int) -> None:
    rng = random.Random(7)
    for start in range(0, count, BATCH):
        events = []
        for n in range(start, min(start + BATCH, count)):
            at = START + timedelta(seconds=n)
            kind = RARE_TYPE if n % RARE_EVERY == 0 else "playback.heartbeat"
            viewer = f"v-{rng.randrange(VIEWERS)}"
            indexes = {"viewer.id": cipher.blind_index("viewer.id", viewer)}
            events.append(NewEvent(f"e{n}", kind, at, at, None, {}, 1, blind_indexes=indexes))
        async with store.write(TENANT) as data:
            await data.events.add(events)
        print(f"\r  stored {min(start + BATCH, count):,} events", end="", file=sys.stderr)
    print(file=sys.stderr)


async def timings(run: Callable[[], Awaitable[int]], repeats: int) -> tuple[list[float], int]:
    seconds, found = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        found += await run()
        seconds.append(time.perf_counter() - started)
    return seconds, found


async def measure(database_name: str, url: str, report: BenchReport) -> None:
    database = Database(url)
    await database.migrate()
    store = Store(database)
    await store.directory.upsert_tenant(TENANT.tenant_id, display_name="Acme", plan="standard")
    cipher = FieldCipher(KeyRing.generate(TENANT.tenant_id))
    count = EVENTS[database_name]
    await fill(store, cipher, count)
    rng = random.Random(11)
    viewers = [f"v-{rng.randrange(VIEWERS)}" for _ in range(LOOKUPS)]

    async def by_viewer() -> int:
        digest = cipher.blind_index("viewer.id", viewers.pop())
        async with store.read(TENANT) as data:
            return len(await data.events.find(EventQuery(blind_index=("viewer.id", digest))))

    async def by_type() -> int:
        async with store.read(TENANT) as data:
            return len(await data.events.find(EventQuery(types=(RARE_TYPE,))))

    await by_type()  # warm: both read the same tables' pages afterwards
    baseline, baseline_found = await timings(by_type, LOOKUPS)
    blind, blind_found = await timings(by_viewer, LOOKUPS)
    await database.close()
    buckets = (count >> BLIND_INDEX_BUCKET_BITS) + 1
    for case, seconds, found in (
        ("by type (plain index)", baseline, baseline_found),
        ("by viewer.id (blind index)", blind, blind_found),
    ):
        report.add(
            database=database_name,
            events=count,
            buckets=buckets,
            case=case,
            matches=found / LOOKUPS,
            **{
                "p50 ms": percentile(seconds, 50) * 1000,
                "p95 ms": percentile(seconds, 95) * 1000,
                "vs baseline": percentile(seconds, 50) / percentile(baseline, 50),
            },
        )


def main() -> None:
    report = BenchReport(
        "lookup",
        "Equality lookups on an encrypted field (blind index) against a plain index",
        ["database", "events", "buckets", "case", "matches", "p50 ms", "p95 ms", "vs baseline"],
    )
    with (
        report.timed(),
        tempfile.TemporaryDirectory(prefix="ottc-bench-") as scratch,
        throwaway_postgres(durable=True) as cluster,
    ):
        asyncio.run(measure("sqlite", f"sqlite:///{scratch}/lookup.db", report))
        asyncio.run(measure("postgresql", asyncio.run(cluster.create_database()), report))
    report.note(f"{LOOKUPS} lookups each, one tenant, ~{VIEWERS:,} viewers, warm caches")
    report.note(f"a bucket holds {1 << BLIND_INDEX_BUCKET_BITS:,} events' rows")
    report.emit()


if __name__ == "__main__":
    main()
