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


def judge(run: KillRun) -> dict[str, object]:
    stored = Counter(run.stored)
    acknowledged = set(run.acknowledged)
    kids = {i for i in acknowledged if int(i.removeprefix("k-")) % KIDS_EVERY == 0}
    violations = Counter(run.violations)
    return {
        "kills": run.kills,
        "acknowledged": len(acknowledged),
        "stored": len(run.stored),
        "lost": len(acknowledged - set(stored)),
        "stored twice": sum(1 for n in stored.values() if n > 1),
        "stored unacked": len(set(stored) - acknowledged),
        "violations": len(kids),
        "violations wrong": len(set(violations) ^ kids) + sum(n - 1 for n in violations.values()),
        "retried batches": run.retried_batches,
        "held on retry": run.duplicates_on_retry,
        "s": round(run.seconds, 1),
    }


def main() -> None:
    report = BenchReport(
        name="resilience",
        title=f"kill -9 during ingest: `ottc serve` on SQLite, {CLIENTS} clients, {KILLS} kills",
        columns=[
            "kills", "acknowledged", "stored", "lost", "stored twice",
            "stored unacked", "violations", "violations wrong", "retried batches",
            "held on retry", "s",
        ],
    )  # fmt: skip
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
        row = judge(run)
        report.add(**row)
    report.note(
        f"batches of {BATCH} events; an unanswered batch (connection lost, 429/503/5xx) is "
        "posted again with the same event ids until answered"
    )
    report.note("'held on retry': events of a retried batch the server had already stored")
    report.note(f"load average when done: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report.emit()
    if row["lost"] or row["stored twice"] or row["stored unacked"] or row["violations wrong"]:
        raise SystemExit("resilience: acknowledged and stored differ")


if __name__ == "__main__":
    main()
