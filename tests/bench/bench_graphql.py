"""GraphQL latency of the dashboard's queries over a large store (not part of pytest).

Fills one tenant with events spread over 7 days (30% raising a violation) by bulk insert,
plus the hourly violation rollup through the same call the ingest makes for each batch,
then times POST /v1/graphql through the real app (ASGI, in process) for each query the
dashboard sends: the first load, the aggregate refresh it runs after live messages, and
a page of violations with their events (DataLoaders). SQLite and PostgreSQL.

    .venv/bin/python tests/bench/bench_graphql.py      (or: ottc bench graphql)
    OTTC_BENCH_QUICK=1 ...                              50,000 events instead of 1,000,000
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from ott_runtime.app import create_app
from ott_runtime.benchreport import BenchReport, percentile
from ott_runtime.crypto import KeyStore
from ott_runtime.devcluster.postgres import throwaway_postgres
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.service import RuntimeService
from ott_runtime.storage import NewEvent, NewViolation, TenantScope
from ott_runtime.storage.rollups import ViolationRollups
from ott_runtime.storage.tables import EventRow, ViolationRow

QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
EVENTS = 50_000 if QUICK else 1_000_000
REPEATS = 20 if QUICK else 40
CHUNK = 10_000
COUNTRIES = ["DE", "FR", "US", "IN", "BR", "JP", "GB", "ES", "IT", "CA"]
RULES = [
    ("coppa", "no-targeted-ads-to-kids", "critical", 3),
    ("gdpr", "consent", "high", 2),
    ("eu-avmsd", "ad-time-limit", "medium", 1),
    ("geo-licensing", "region", "high", 2),
]
API_KEY = "ottc_bench_graphql_acme_0123456789"
ACME = TenantScope("acme")

DASHBOARD = """query Dashboard($since: DateTime!, $until: DateTime!) {
  tenant { id displayName riskThreshold }
  violationHeatmap(since: $since, until: $until) { hour region count }
  violationNetwork(since: $since, until: $until, limit: 300) { contentId region rule count }
  forecast(historyHours: 24, horizonHours: 6) { method points { hour violations forecast lower upper } }
  violations(last: 200) { edges { cursor node { id eventId ruleId regulation severity message contentId occurredAt } } }
}"""  # noqa: E501 (the dashboard's own query, verbatim)
AGGREGATES = """query Aggregates($since: DateTime!, $until: DateTime!) {
  violationHeatmap(since: $since, until: $until) { hour region count }
  violationNetwork(since: $since, until: $until, limit: 300) { contentId region rule count }
  forecast(historyHours: 24, horizonHours: 6) { method points { hour violations forecast lower upper } }
}"""  # noqa: E501
PAGE = """{ violations(first: 50, filter: {minSeverity: HIGH}) { edges { node { id ruleId
  event { id type payload risk { score } } } } pageInfo { endCursor } } }"""


class NoRules:
    def evaluate(self, event: Any, aggregates: Any) -> list[Any]:
        return []

    def evaluations_for(self, event_type: str) -> int:
        return 0

    def health(self) -> list[Any]:
        return []

    def describe(self) -> list[dict[str, Any]]:
        return []


class NoWindows:
    def observe(self, event: Any) -> dict[str, Any]:
        return {}

    def begin(self) -> None:  # nothing kept: nothing to journal or undo
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


async def fill(service: RuntimeService, now: datetime) -> None:
    """Bulk inserts, a transaction per chunk, each with the rollup call the ingest makes."""
    rng = random.Random(42)
    seq = 0
    for start in range(0, EVENTS, CHUNK):
        events, violations = [], []
        for index in range(start, min(EVENTS, start + CHUNK)):
            seq += 1
            occurred = now - timedelta(seconds=rng.uniform(0, 7 * 86400))
            country, content = rng.choice(COUNTRIES), f"show-{rng.randrange(400)}"
            hit = RULES[rng.randrange(len(RULES))] if rng.random() < 0.3 else None
            events.append({
                "seq": seq, "tenant_id": "acme", "event_id": f"e{index}",
                "type": "ad.impression", "occurred_at": occurred, "received_at": occurred,
                "content_id": content, "max_severity": hit[3] if hit else None,
                "payload": {"id": f"e{index}", "type": "ad.impression",
                            "geo": {"country": country}, "content": {"id": content}},
                "key_version": None,
            })  # fmt: skip
            if hit:
                violations.append({
                    "id": str(uuid.UUID(int=rng.getrandbits(128))), "tenant_id": "acme",
                    "event_seq": seq, "event_id": f"e{index}", "event_type": "ad.impression",
                    "regulation": hit[0], "rule_id": hit[1], "severity": hit[2],
                    "severity_rank": hit[3], "message": "bench", "reference": "bench",
                    "content_id": content, "occurred_at": occurred, "created_at": occurred,
                })  # fmt: skip
        async with service.database.transaction() as session:
            await ViolationRollups(session, ACME).record_batch(
                [
                    NewEvent(e["event_id"], e["type"], e["occurred_at"], e["received_at"],
                             e["content_id"], e["payload"], None)
                    for e in events
                ],
                [
                    NewViolation(v["event_id"], v["event_type"], v["regulation"], v["rule_id"],
                                 v["severity"], v["severity_rank"], v["message"], v["reference"],
                                 v["content_id"], v["occurred_at"])
                    for v in violations
                ],
            )  # fmt: skip
            connection = await session.connection()  # Core executemany, no ORM bookkeeping
            await connection.execute(insert(EventRow), events)
            await connection.execute(insert(ViolationRow), violations)


async def run(database_url: str, label: str, report: BenchReport, root: Path) -> None:
    keys = KeyStore.from_directory(root / f"keys-{label}", ["acme"], create_missing=True)
    spec = ComplianceTenantSpec.model_validate({"displayName": "Acme"})
    runtime = TenantRuntime("acme", spec, NoRules(), NoWindows(), keys)
    service = RuntimeService(database_url, [runtime], keys, api_keys={"acme": [API_KEY]})
    await service.start()
    now = datetime.now(UTC)
    started = time.perf_counter()
    await fill(service, now)
    if not service.database.is_sqlite:
        async with service.database.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
    report.note(f"{label}: {EVENTS:,} events stored in {time.perf_counter() - started:.0f} s")
    # the dashboard's window: the last 24 whole UTC hours, the current one included
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    window = {"since": (until - timedelta(hours=24)).isoformat(), "until": until.isoformat()}
    unaligned = {"since": (now - timedelta(hours=24)).isoformat(), "until": now.isoformat()}
    app = create_app(service, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name, query, variables in (
            ("dashboard first load", DASHBOARD, window),
            ("aggregates refresh", AGGREGATES, window),
            # any other window: whole hours from the rollup, the two partial ones from rows
            ("aggregates, unaligned 24 h", AGGREGATES, unaligned),
            ("violations page + events", PAGE, {}),
        ):
            timings = []
            for attempt in range(REPEATS + 2):
                begin = time.perf_counter()
                response = await client.post(
                    "/v1/graphql", json={"query": query, "variables": variables},
                    headers={"X-API-Key": API_KEY},
                )  # fmt: skip
                elapsed = (time.perf_counter() - begin) * 1000
                body = response.json()
                if "errors" in body:
                    raise RuntimeError(body["errors"])
                if attempt >= 2:  # two warm-ups
                    timings.append(elapsed)
            report.add(database=label, query=name, events=EVENTS,
                       **{"p50 ms": percentile(timings, 50), "p95 ms": percentile(timings, 95),
                          "max ms": max(timings)})  # fmt: skip
    await service.stop()


async def measure(report: BenchReport) -> None:
    with tempfile.TemporaryDirectory(prefix="ottc-bench-gql-") as root:
        await run(f"sqlite:///{root}/bench.db", "sqlite", report, Path(root))
        with throwaway_postgres(durable=False) as cluster:
            await run(await cluster.create_database(), "postgresql", report, Path(root))


def main() -> None:
    report = BenchReport(
        name="graphql",
        title="GraphQL latency of the dashboard's queries (one tenant, 7 days of events)",
        columns=["database", "query", "events", "p50 ms", "p95 ms", "max ms"],
    )
    with report.timed():
        asyncio.run(measure(report))
    report.note("through the real app over ASGI in process (no network); the dashboard's window")
    report.note(f"load average when done: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report.emit()


if __name__ == "__main__":
    main()
