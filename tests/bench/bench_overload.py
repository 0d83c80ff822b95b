"""Overload: 200 concurrent clients posting batches of 100 events to one `ottc serve`
(SQLite, loopback), with admission control on (the defaults) and off (no limits), the
in-run baseline; each setting on a fresh server.

Cases, each for a fixed duration:
- busy: 200 clients spread over 10 tenants, each posting again as soon as it is answered;
- quiet alone: one tenant's 2 clients, each pausing between batches;
- quiet beside noisy: the same 2 clients while 198 of a noisy tenant's flood the server.

The clients run in several processes (asyncio + httpx, one connection each), as 200 real
clients would not share one Python event loop: one loop driving all of them lags behind
its own answers by hundreds of milliseconds on a busy machine, and that lag would be
measured as the server's latency. The quiet tenant has a process of its own, like a
customer of its own. A case's clients join over its first second (not in one
millisecond), and behave as a well-made client does: a refused batch (429/503) is sent
again, the same batch, after the Retry-After delay with 0-50 % jitter. The keys' cache
entries are warm, as steady traffic keeps them.

Goals (admission on): accepted p99 < 1 s, refused answered in < 50 ms (p99), the quiet
tenant's p99 beside the noisy one at most 2x its p99 alone.

    .venv/bin/python tests/bench/bench_overload.py       (or: ottc bench overload)
    OTTC_BENCH_QUICK=1 ...                                 5 s cases instead of 20 s
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from overload_clients import BATCH, Tally, init_worker, make_templates, run_share, wait_for_all
from prometheus_client.parser import text_string_to_metric_families

# beside this file (the script's folder is on sys.path, the client processes' too)
from serve_process import ottc_serve

from ott_runtime.api.admission import DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT_PER_TENANT
from ott_runtime.benchreport import BenchReport, percentile, process_cpu_clock

REPO = Path(__file__).resolve().parents[2]
QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
SECONDS = 5.0 if QUICK else 20.0
CLIENTS = 200
PROCESSES = 4  # client processes
BUSY_TENANTS = [f"t{i}" for i in range(10)]
QUIET, NOISY = "quiet", "noisy"
QUIET_CLIENTS = 2
QUIET_PAUSE = 0.25  # seconds between a quiet client's answer and its next batch
PROTECTED = ["viewer.id", "viewer.email", "device.ip", "viewer.accountId"]  # the default
REGULATIONS = [
    "gdpr",
    "eu-avmsd",
    "india-it-rules-2021",
    "geo-licensing",
    "coppa",
    "fcc-captioning",
]
SETTINGS = {"on": (DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT_PER_TENANT), "off": (0, 0)}
GOAL_P99_S, GOAL_REFUSED_S, GOAL_NOISY_RATIO = 1.0, 0.050, 2.0


def spread(tenants: list[str], clients: int, processes: int) -> list[list[tuple[str, float]]]:
    """``clients`` posting without pause, the tenants round-robin, over ``processes``."""
    crowd = [(tenants[i % len(tenants)], 0.0) for i in range(clients)]
    return [crowd[p::processes] for p in range(processes)]


# case -> one crowd per client process: (tenant, pause after an answer) per client
QUIET_CROWD = [(QUIET, QUIET_PAUSE)] * QUIET_CLIENTS
CASES: dict[str, list[list[tuple[str, float]]]] = {
    "busy": spread(BUSY_TENANTS, CLIENTS, PROCESSES),
    "quiet alone": [QUIET_CROWD],
    "quiet beside noisy": [QUIET_CROWD, *spread([NOISY], CLIENTS - QUIET_CLIENTS, PROCESSES - 1)],
}


def tenant_document(name: str) -> dict[str, object]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name},
        "spec": {
            "displayName": name,
            "plan": "enterprise",
            "isolation": "pooled",
            "regulations": [{"name": r} for r in REGULATIONS],
            "encryption": {"fields": PROTECTED},
            # the plan's rate limit is not what is measured here
            "gateway": {"rateLimit": {"perSecond": 100000}},
        },
    }


@contextmanager
def server(
    config: Path, state: Path, limits: tuple[int, int]
) -> Iterator[tuple[str, dict[str, str], int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OTTC_MAX"))}
    args = ["--max-in-flight", str(limits[0]), "--max-in-flight-per-tenant", str(limits[1])]
    with ottc_serve(config, state, env=env, args=args) as running:
        yield running


@dataclass
class Result:
    tally: Tally
    seconds: float  # from the start to the last answer
    server_cpu: float  # seconds
    lag: list[float]  # of the client processes of this tally's tenant
    # the server's own count of refusals answered within 50 ms, from /metrics: the time in
    # the app, without the wait for the event loop to read the request
    refused_in_app: tuple[float, float] = (0.0, 0.0)  # (within 50 ms, all)


def refusals_in_app(base: str) -> tuple[float, float]:
    """(refusals timed within 50 ms, refusals) so far: refused requests match no route."""
    within = total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text):
        for sample in family.samples:
            if sample.labels.get("route") != "unmatched":
                continue
            if sample.name == "ottc_http_request_seconds_bucket" and sample.labels["le"] == "0.05":
                within = sample.value
            elif sample.name == "ottc_http_request_seconds_count":
                total = sample.value
    return within, total


def run_case(
    workers: ProcessPoolExecutor, base: str, keys: dict[str, str], pid: int, number: int,
    case: str,
) -> dict[str, Result]:  # fmt: skip
    """One case; its result by tenant group: "all", and each tenant of a quiet case."""
    crowds = CASES[case]
    # the keys' cache entries as steady traffic leaves them (the first request of a key
    # whose entry expired waits for the database; under way, entries are refreshed ahead)
    with httpx.Client(base_url=base, timeout=60) as http:
        for tenant in sorted({t for crowd in crowds for t, _ in crowd}):
            http.get("/v1/events?limit=1", headers={"X-API-Key": keys[tenant]}).raise_for_status()
    # every process ready: clients made, connections open (and not idle for the server's
    # 5 s keep-alive timeout)
    start_at = time.time() + 3
    futures = [
        workers.submit(run_share, base, keys, crowd, f"c{number}p{p}", start_at, SECONDS)
        for p, crowd in enumerate(crowds)
    ]
    cpu = process_cpu_clock(pid)
    in_app = refusals_in_app(base)
    time.sleep(max(0.0, start_at - time.time()))
    cpu_start = cpu()
    shares = [future.result() for future in futures]
    cpu_spent = cpu() - cpu_start
    after = refusals_in_app(base)
    groups: dict[str, Result] = {}
    for share in shares:
        for tenant, tally in share.tallies.items():
            group = tenant if tenant in (QUIET, NOISY) else "all"
            result = groups.setdefault(
                group,
                Result(Tally(), 0.0, cpu_spent, [], (after[0] - in_app[0], after[1] - in_app[1])),
            )
            result.tally.add(tally)
            result.lag += share.lag
    for result in groups.values():
        result.seconds = max(result.tally.last_answer - start_at, SECONDS)
    return groups


def measure(setting: str, config: Path, state: Path, workers: ProcessPoolExecutor,
            templates: dict[str, list[bytes]]) -> dict[str, Result]:  # fmt: skip
    with server(config, state, SETTINGS[setting]) as (base, keys, pid):
        with httpx.Client(base_url=base, timeout=60) as http:  # caches, prepared statements
            for tenant, batches in templates.items():
                for body in batches[:2]:
                    http.post("/v1/events", content=body, headers={"X-API-Key": keys[tenant]})
        busy = run_case(workers, base, keys, pid, 1, "busy")
        alone = run_case(workers, base, keys, pid, 2, "quiet alone")
        beside = run_case(workers, base, keys, pid, 3, "quiet beside noisy")
    print(f"  {setting}: done", flush=True)
    return {
        "busy": busy["all"],
        "quiet alone": alone[QUIET],
        "quiet beside noisy": beside[QUIET],
        "noisy": beside[NOISY],
    }


def ms(values: list[float], pct: float) -> float | None:
    return percentile(values, pct) * 1000 if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def goal(case: str, results: dict[str, Result]) -> str:
    tally = results[case].tally
    if case == "quiet beside noisy":
        factor = ratio(ms(tally.accepted, 99), ms(results["quiet alone"].tally.accepted, 99))
        if factor is None:
            return "MISSED: nothing accepted"
        verdict = "met" if factor <= GOAL_NOISY_RATIO else "MISSED"
        return f"{verdict}: p99 x{factor:.2f} of alone (<= x{GOAL_NOISY_RATIO:g})"
    if case == "quiet alone":
        return "-"
    parts = []
    accepted, refused = ms(tally.accepted, 99), ms(tally.refused, 99)
    if accepted is not None:
        verdict = "met" if accepted < GOAL_P99_S * 1000 else "MISSED"
        parts.append(f"{verdict}: p99 {accepted:.0f} < {GOAL_P99_S * 1000:.0f} ms")
    if refused is not None:
        verdict = "met" if refused < GOAL_REFUSED_S * 1000 else "MISSED"
        parts.append(f"{verdict}: refused p99 {refused:.0f} < {GOAL_REFUSED_S * 1000:.0f} ms")
    return "; ".join(parts) or "-"


LABELS = {
    "busy": (f"{CLIENTS} clients over {len(BUSY_TENANTS)} tenants", CLIENTS),
    "quiet alone": ("quiet tenant alone", QUIET_CLIENTS),
    "quiet beside noisy": ("quiet tenant beside a noisy one", QUIET_CLIENTS),
    "noisy": ("the noisy tenant", CLIENTS - QUIET_CLIENTS),
}


def main() -> None:
    report = BenchReport(
        "overload",
        f"Overload: {CLIENTS} clients posting batches of {BATCH} to one `ottc serve` (SQLite, "
        f"one uvicorn worker), {SECONDS:g} s a case, admission control on vs off",
        ["admission", "case", "clients", "accepted", "refused", "statuses", "errors",
         "events/s", "p50 ms", "p99 ms", "max ms", "refused p50 ms", "refused p99 ms",
         "refused in app <= 50 ms %", "server cpu %", "client lag p99 ms", "p99 vs off", "goal"],
    )  # fmt: skip
    load_at_start = os.getloadavg()
    measured: dict[str, dict[str, Result]] = {}
    with report.timed(), tempfile.TemporaryDirectory(prefix="ottc-bench-") as scratch:
        root = Path(scratch)
        (root / "config").mkdir()
        tenants = [*BUSY_TENANTS, QUIET, NOISY]
        (root / "config" / "tenants.yaml").write_text(
            yaml.safe_dump_all([tenant_document(t) for t in tenants])
        )
        templates = make_templates(tenants)
        spawn = multiprocessing.get_context("spawn")
        barrier = spawn.Barrier(PROCESSES)
        with ProcessPoolExecutor(
            PROCESSES, mp_context=spawn, initializer=init_worker, initargs=(templates, barrier)
        ) as workers:
            # every client process started and loaded before the first case's clock
            [future.result() for future in [workers.submit(wait_for_all) for _ in range(PROCESSES)]]
            for setting in SETTINGS:
                state = root / f"state-{setting}"
                measured[setting] = measure(setting, root / "config", state, workers, templates)
    for setting, results in measured.items():
        for case, result in results.items():
            tally, (label, clients) = result.tally, LABELS[case]
            off = ms(measured["off"][case].tally.accepted, 99)
            report.add(
                admission=setting, case=label, clients=clients,
                accepted=len(tally.accepted), refused=len(tally.refused),
                statuses=" ".join(f"{s}:{n}" for s, n in sorted(tally.statuses.items())),
                errors=tally.errors, **{
                    "events/s": tally.events / result.seconds,
                    "p50 ms": ms(tally.accepted, 50), "p99 ms": ms(tally.accepted, 99),
                    "max ms": ms(tally.accepted, 100),
                    "refused p50 ms": ms(tally.refused, 50),
                    "refused p99 ms": ms(tally.refused, 99),
                    "refused in app <= 50 ms %": (
                        100 * result.refused_in_app[0] / result.refused_in_app[1]
                        if tally.refused and result.refused_in_app[1] else None
                    ),
                    "server cpu %": 100 * result.server_cpu / result.seconds,
                    "client lag p99 ms": ms(result.lag, 99),
                    "p99 vs off": ratio(ms(tally.accepted, 99), off),
                    "goal": goal(case, results) if setting == "on" else "-",
                },
            )  # fmt: skip
    on, off = SETTINGS["on"], SETTINGS["off"]
    report.note(
        f"admission on: --max-in-flight {on[0]} --max-in-flight-per-tenant {on[1]} (the "
        f"defaults); off: {off[0]} {off[1]} (no limits: every batch waits its turn, as before)"
    )
    report.note(
        "latencies are the client's, from sending a request to its whole answer; a refused "
        "batch is sent again after Retry-After (1 s) plus 0-50 % jitter, and counted again"
    )
    report.note(
        f"{PROCESSES} client processes (the quiet tenant's 2 clients in one of their own); "
        f"quiet clients pause {QUIET_PAUSE:g} s after each answer, the others post again at "
        "once; events carry the six example regulations' rules and 4 sealed fields"
    )
    report.note(
        f"client and server share the machine ({os.cpu_count()} CPUs). server cpu %: the "
        "server's CPU time over the case's wall time (100 = one core); client lag: how late "
        "the client processes' event loops woke from a 10 ms sleep (it adds to every latency); "
        "refused in app: the server's own histogram of refused requests (no route matched), "
        "the time in the app without the wait for the event loop to read the request"
    )
    loads = [" ".join(f"{v:.1f}" for v in load) for load in (load_at_start, os.getloadavg())]
    report.note(f"load average (1, 5, 15 min) at start -> end: {' -> '.join(loads)}")
    report.emit()


if __name__ == "__main__":
    main()
