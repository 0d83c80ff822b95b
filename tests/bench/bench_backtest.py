"""Backtest throughput (not part of pytest): a tenant on SQLite with all 45 catalog rules
and encrypted fields, its stored events replayed through the rules in force and a proposal
(the same catalog, one limit changed). Baseline of the ratio: the same two rule engines
over the same events already in memory (no reading, no decrypting), in the same run.

Goal: >= 20,000 events/s replayed.

    .venv/bin/python tests/bench/bench_backtest.py      (or: ottc bench backtest)
    OTTC_BENCH_QUICK=1 ...                               fewer events
"""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import yaml

from ott_runtime.benchreport import BenchReport
from ott_runtime.config import standalone_config
from ott_runtime.demo.generator import EventGenerator
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.rules import RuleReplay, compile_rules, resolve_rules
from ott_runtime.ingest.backtest import backtest
from ott_runtime.ingest.rules import CompiledRuleEvaluator
from ott_runtime.service import RuntimeService
from ott_runtime.storage import EventQuery, TenantScope

REPO = Path(__file__).resolve().parents[2]
QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
EVENTS = 4_000 if QUICK else 40_000
TENANT = "bench"
GOAL = 20_000


def tenant_document(sets: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": TENANT},
        "spec": {
            "displayName": "Bench",
            "regulations": [{"name": name} for name in sets],
            "encryption": {"fields": ["viewer.id", "viewer.email", "device.ip"],
                           "searchable": ["viewer.id"]},
        },
    }  # fmt: skip


async def measure(root: Path, report: BenchReport) -> None:
    sets, _ = load_resources([REPO / "examples" / "regulationsets"])
    (root / "tenant.yaml").write_text(yaml.safe_dump(tenant_document(sorted(sets))))
    config_paths = (REPO / "examples" / "regulationsets", root / "tenant.yaml")
    config = standalone_config(config_paths, root / "state")
    service = RuntimeService(config.database_url, config.runtimes, config.keys)
    await service.start()
    generator = EventGenerator([TENANT], start=datetime(2026, 11, 1, tzinfo=UTC), seed=11)
    moment, stored = datetime(2026, 11, 1, tzinfo=UTC), 0
    while stored < EVENTS:
        batch = generator.events_at(moment, 500)[TENANT]
        body = orjson.dumps({"events": batch})
        stored += len((await service.pipeline.ingest_body(TenantScope(TENANT), body)).accepted)
        moment += timedelta(minutes=5)
    runtime = service.tenants[TENANT]
    assert isinstance(runtime.rules, CompiledRuleEvaluator)
    current = runtime.rules.compiled.resolved
    changed = copy.deepcopy(sets["eu-avmsd"])
    proposal = changed.model_copy(
        update={"spec": changed.spec.model_copy(
            update={"parameters": {**changed.spec.parameters, "adSecondsPerHourMax": 600}})}
    )  # fmt: skip
    proposed = resolve_rules(runtime.spec, {**sets, "eu-avmsd": proposal})

    started = time.perf_counter()
    result = await backtest(service.store, runtime, current, proposed)
    replay = time.perf_counter() - started

    # baseline: both engines over the same events, already decrypted and in memory
    documents = []
    after = None
    while True:
        async with service.store.read(TenantScope(TENANT)) as data:
            rows = await data.events.find(EventQuery(after_seq=after, limit=5000))
        if not rows:
            break
        documents += [runtime.cipher.decrypt_document(r.payload, r.event_id).document for r in rows]
        after = rows[-1].seq
    now, then = RuleReplay(compile_rules(current)), RuleReplay(compile_rules(proposed))
    started = time.perf_counter()
    for event in documents:
        now.hits(event)
        then.hits(event)
    rules_only = time.perf_counter() - started
    await service.stop()

    rate = result.events / replay
    report.add(case="backtest (read, decrypt, two engines)", events=result.events,
               seconds=replay, **{"events/s": rate,
                                  "vs rules only": replay / rules_only})  # fmt: skip
    report.add(case="rules only (baseline)", events=len(documents), seconds=rules_only,
               **{"events/s": len(documents) / rules_only, "vs rules only": 1.0})  # fmt: skip
    report.note(f"{len(current.rules)} rules in force, {len(proposed.rules)} proposed; "
                f"{len(result.changed)} rule(s) change; goal >= {GOAL:,} events/s: "
                f"{'met' if rate >= GOAL else 'missed'}")  # fmt: skip


def main() -> None:
    report = BenchReport(
        name="backtest",
        title=f"Backtest on SQLite, all catalog rules ({EVENTS:,} stored events)",
        columns=["case", "events", "seconds", "events/s", "vs rules only"],
    )
    with report.timed(), tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(Path(folder), report))
    report.emit()


if __name__ == "__main__":
    main()
