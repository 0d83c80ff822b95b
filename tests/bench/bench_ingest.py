"""Ingest throughput and latency: batches of 100 realistic events over HTTP to one uvicorn
worker, with the example regulations' rules on; SQLite and PostgreSQL; encryption on vs
off (as configured by default, then with blind indexes); one tenant vs ten. Cases are
interleaved round by round on the same server so drift (a growing database, a busy
neighbour) hits them alike.

    .venv/bin/python tests/bench/bench_ingest.py          (or: ottc bench ingest)
    OTTC_BENCH_QUICK=1 ...                                 smaller run
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import yaml
from serve_process import ottc_serve

from ott_runtime.benchreport import BenchReport, median_interval, percentile, process_cpu_clock
from ott_runtime.demo.generator import EventGenerator
from ott_runtime.devcluster.postgres import throwaway_postgres

REPO = Path(__file__).resolve().parents[2]
QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
BATCH = 100
# many short rounds: a neighbour's burst or a checkpoint spoils one round, and the ratio is
# the median over rounds
ROUNDS = 6 if QUICK else 40
BATCHES_PER_ROUND = 8 if QUICK else 15
CONCURRENCY = 4
WARMUP_BATCHES = 10
SEALED_TENANT = "d0"  # the default: fields sealed, none searchable
ENCRYPTED_TENANT = "e0"
TEN_TENANTS = [f"t{i}" for i in range(10)]
ALL_SEARCHABLE_TENANT = "s0"
PLAIN_TENANT = "plain"
CONTROL_TENANT = "plain2"  # plain too: how far apart two equal cases read (the noise)
# what the example tenants protect; like them, the tenants find events by viewer id only
PROTECTED = ["viewer.id", "viewer.email", "device.ip", "viewer.accountId"]
SEARCHABLE = ["viewer.id"]
REGULATIONS = [
    "gdpr",
    "eu-avmsd",
    "india-it-rules-2021",
    "geo-licensing",
    "coppa",
    "fcc-captioning",
]
# case -> the tenants its batches go to, round-robin. Every tenant's generated stream is the
# same but for the tenant's name in ids, and a case's k-th batch is the k-th of its tenant's
# stream, so every case sends the same events in the same order: later in a stream there are
# more violations a batch (windows fill), which would otherwise tilt the comparison.
CASES = {
    "sealed, 1 tenant": [SEALED_TENANT],
    "encrypted, 1 tenant": [ENCRYPTED_TENANT],
    "plain, 1 tenant": [PLAIN_TENANT],
    "encrypted, 10 tenants": TEN_TENANTS,
    "encrypted, all searchable": [ALL_SEARCHABLE_TENANT],
    "plain, control": [CONTROL_TENANT],
}


def tenant_document(name: str, fields: list[str], searchable: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {
            "displayName": name,
            "plan": "enterprise",
            "isolation": "pooled",
            "regulations": [{"name": r} for r in REGULATIONS],
            "encryption": {"fields": fields, "searchable": searchable},
            "gateway": {"rateLimit": {"perSecond": 100000}},
        },
    }


def write_config(folder: Path) -> None:
    folder.mkdir(parents=True)
    documents = [
        *(tenant_document(t, PROTECTED, SEARCHABLE) for t in [ENCRYPTED_TENANT, *TEN_TENANTS]),
        tenant_document(SEALED_TENANT, PROTECTED, []),
        tenant_document(ALL_SEARCHABLE_TENANT, PROTECTED, PROTECTED),
        tenant_document(PLAIN_TENANT, [], []),
        tenant_document(CONTROL_TENANT, [], []),
    ]
    (folder / "tenants.yaml").write_text(yaml.safe_dump_all(documents))


def make_batches(tenants: list[str], count: int, seed: int) -> dict[str, list[bytes]]:
    """``count`` batches of 100 per tenant, encoded up front (not part of the timing)."""
    start = datetime.now(UTC) - timedelta(hours=6)
    batches: dict[str, list[bytes]] = {}
    for tenant in tenants:
        generator = EventGenerator([tenant], start=start, seed=seed, violation_rate=0.03)
        pending: list[dict[str, object]] = []
        encoded: list[bytes] = []
        minute = 0
        while len(encoded) < count:
            pending += generator.events_at(start + timedelta(seconds=minute * 20), 50)[tenant]
            minute += 1
            while len(pending) >= BATCH and len(encoded) < count:
                encoded.append(orjson.dumps(pending[:BATCH]))
                pending = pending[BATCH:]
        batches[tenant] = encoded
    return batches


@contextmanager
def server(
    config: Path, state: Path, database_url: str | None
) -> Iterator[tuple[str, dict[str, str], int]]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    # admission control would refuse the clients' concurrent batches of one tenant (2 in
    # flight a tenant by default): what is measured is the cost of an accepted event
    limits = ["--max-in-flight", str(CONCURRENCY), "--max-in-flight-per-tenant", str(CONCURRENCY)]
    with ottc_serve(config, state, env=env, args=limits) as running:
        yield running


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the runtime process spent: robust on a busy machine
    round_costs: list[float] = field(default_factory=list)  # server CPU seconds per event
    errors: int = 0


async def run_case(
    client: httpx.AsyncClient, keys: dict[str, str], work: list[tuple[str, bytes]], sample: Sample
) -> None:
    queue = list(reversed(work))

    async def worker() -> None:
        while queue:
            tenant, body = queue.pop()
            started = time.perf_counter()
            response = await client.post(
                "/v1/events",
                content=body,
                headers={"X-API-Key": keys[tenant], "Content-Type": "application/json"},
            )
            sample.latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json()["accepted"] != BATCH:
                sample.errors += 1
            else:
                sample.events += BATCH

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    sample.seconds += time.perf_counter() - started


async def measure(
    base: str, keys: dict[str, str], pid: int, batches: dict[str, list[bytes]]
) -> dict[str, Sample]:
    samples = {case: Sample() for case in CASES}
    position = dict.fromkeys(CASES, 0)

    def take(case: str, count: int) -> list[tuple[str, bytes]]:
        tenants, work = CASES[case], []
        for _ in range(count):
            index = position[case]
            tenant = tenants[index % len(tenants)]
            work.append((tenant, batches[tenant][index]))
            position[case] += 1
        return work

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        for case in CASES:  # warm-up: caches, prepared statements, JIT paths
            await run_case(client, keys, take(case, WARMUP_BATCHES), Sample())
        cpu_seconds = process_cpu_clock(pid)
        for round_number in range(ROUNDS):
            order = list(CASES) if round_number % 2 == 0 else list(reversed(CASES))
            for case in order:
                sample, cpu, events = samples[case], cpu_seconds(), samples[case].events
                await run_case(client, keys, take(case, BATCHES_PER_ROUND), sample)
                spent = cpu_seconds() - cpu
                sample.server_cpu += spent
                sample.round_costs.append(spent / max(sample.events - events, 1))
    return samples


def main() -> None:
    report = BenchReport(
        "ingest",
        f"Ingest over HTTP: batches of {BATCH}, rules on ({len(REGULATIONS)} regulations), "
        f"one uvicorn worker, {CONCURRENCY} clients",
        [
            "database",
            "case",
            "events/s",
            "events/cpu-s",
            "cpu vs baseline",
            "95% interval",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "batches",
            "errors",
        ],
    )
    load_at_start = os.getloadavg()
    needed = WARMUP_BATCHES + ROUNDS * BATCHES_PER_ROUND
    tenants = sorted({t for case_tenants in CASES.values() for t in case_tenants})
    with report.timed(), tempfile.TemporaryDirectory(prefix="ottc-bench-") as scratch:
        root = Path(scratch)
        write_config(root / "config")
        batches = make_batches(tenants, needed, seed=5)
        with throwaway_postgres(durable=True) as cluster:
            for database in ("sqlite", "postgresql"):
                url = asyncio.run(cluster.create_database()) if database == "postgresql" else None
                with server(root / "config", root / f"state-{database}", url) as (base, keys, pid):
                    samples = asyncio.run(measure(base, keys, pid, batches))
                baseline = samples["plain, 1 tenant"].round_costs
                for case, sample in samples.items():
                    rate = sample.events / sample.seconds if sample.seconds else 0.0
                    cost = sample.server_cpu / sample.events
                    ratios = [c / b for c, b in zip(sample.round_costs, baseline, strict=True)]
                    low, high = median_interval(ratios)
                    report.add(
                        database=database, case=case, **{
                            "events/s": rate,
                            "events/cpu-s": 1 / cost,
                            "cpu vs baseline": statistics.median(ratios),
                            "95% interval": f"{low:.3f}-{high:.3f}",
                            "p50 ms": percentile(sample.latencies, 50) * 1000,
                            "p95 ms": percentile(sample.latencies, 95) * 1000,
                            "p99 ms": percentile(sample.latencies, 99) * 1000,
                            "batches": len(sample.latencies),
                            "errors": sample.errors,
                        },
                    )  # fmt: skip
    report.note("events/s: wall clock, client and server sharing a busy machine (noisy)")
    report.note("events/cpu-s: events per CPU-second of the runtime process (one core's capacity)")
    report.note(
        "cpu vs baseline: CPU per event relative to plain, 1 tenant, in the same round on the "
        f"same server; the median over {ROUNDS} rounds of {BATCHES_PER_ROUND} batches a case; "
        "95% interval: a bootstrap interval of that median over the rounds"
    )
    report.note(
        f"sealed: {len(PROTECTED)} fields encrypted, none searchable (the default); encrypted: "
        f"the same and {', '.join(SEARCHABLE)} searchable (as in the examples); all "
        "searchable: a blind index for each of the four"
    )
    report.note(
        "every case sends the same generated events in the same order (tenant names aside); "
        "plain, control is a second plain tenant: its distance from 1 is the run's noise"
    )
    report.note("PostgreSQL with fsync and synchronous_commit on; SQLite WAL, synchronous=NORMAL")
    report.note(f"client and server share the machine ({os.cpu_count()} CPUs)")
    loads = [" ".join(f"{v:.1f}" for v in load) for load in (load_at_start, os.getloadavg())]
    loads_text = " -> ".join(loads)
    report.note(f"load average (1, 5, 15 min) at start -> end: {loads_text}")
    report.emit()


if __name__ == "__main__":
    main()
