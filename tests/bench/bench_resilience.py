"""Resilience, the long runs of what tests/integration runs bounded:

- kill -9 during ingest: a real `ottc serve` on SQLite, clients posting batches, the server
  killed -9 17 times under them and restarted on the same state; acknowledged events against
  stored ones (lost, stored twice) and violations against the events that should have one.

    .venv/bin/python tests/bench/bench_resilience.py       (or: ottc bench resilience)
    OTTC_BENCH_QUICK=1 ...                                  4 kills
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the harness lives beside the tests that use it

from tests.integration.killable_server import KillableServer, write_config  # noqa: E402
from tests.integration.resilience_ingest import (  # noqa: E402
    KIDS_EVERY,
    REGULATION,
    TENANT,
    KillRun,
    ingest_through_kills,
)

from ott_runtime.benchreport import BenchReport  # noqa: E402

QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
KILLS = 4 if QUICK else 17
CLIENTS = 4
BATCH = 50
BATCHES_BETWEEN_KILLS = 20 if QUICK else 40


def judge(run: KillRun) -> dict[str, int | float]:
    stored = Counter(run.stored)
    acknowledged = set(run.acknowledged)
    kids = {i for i in acknowledged if int(i.removeprefix("k-")) % KIDS_EVERY == 0}
    violations = Counter(run.violations)
    return {
        "kills -9": run.kills,
        "events acknowledged (2xx)": len(acknowledged),
        "events stored": len(run.stored),
        "acknowledged, not stored (lost)": len(acknowledged - set(stored)),
        "stored more than once": sum(1 for n in stored.values() if n > 1),
        "stored, never acknowledged": len(set(stored) - acknowledged),
        "violations expected": len(kids),
        "violations missing, extra or repeated": len(set(violations) ^ kids)
        + sum(n - 1 for n in violations.values()),
        "batches posted again": run.retried_batches,
        "events a retry found stored": run.duplicates_on_retry,
        "posts without an answer": run.failed_posts,
        "seconds": round(run.seconds, 1),
    }


MUST_BE_ZERO = (
    "acknowledged, not stored (lost)",
    "stored more than once",
    "stored, never acknowledged",
    "violations missing, extra or repeated",
)


def main() -> None:
    report = BenchReport(
        name="resilience",
        title=f"kill -9 during ingest: `ottc serve` on SQLite, {CLIENTS} clients, {KILLS} kills",
        columns=["measure", "value", "goal"],
    )
    with report.timed(), tempfile.TemporaryDirectory(prefix="ottc-bench-resilience-") as root:
        config = write_config(Path(root) / "config", [REGULATION, TENANT])
        with KillableServer(config, Path(root) / "state") as server:
            run = ingest_through_kills(
                server,
                kills=KILLS,
                clients=CLIENTS,
                batch_size=BATCH,
                batches_between_kills=BATCHES_BETWEEN_KILLS,
                settle_timeout_s=300,
                on_kill=lambda n: print(f"  kill -9 #{n}", flush=True),
            )
        measures = judge(run)
        for measure, value in measures.items():
            report.add(measure=measure, value=value, goal="0" if measure in MUST_BE_ZERO else None)
    report.note(
        f"batches of {BATCH} events; an unanswered batch (connection lost, 429/503/5xx) is "
        "posted again with the same event ids until answered"
    )
    report.note(
        "a retry finds events stored when the server died after committing, before answering"
    )
    report.note(f"load average when done: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report.emit()
    if any(measures[measure] for measure in MUST_BE_ZERO):
        raise SystemExit("resilience: acknowledged and stored differ")


if __name__ == "__main__":
    main()
