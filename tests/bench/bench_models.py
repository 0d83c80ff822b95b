"""Models benchmark: NAB (three profiles, per category, beside the anchors), the OTT
benchmark (per anomaly kind and per session risk kind), and serving latency.

Run: `ottc bench models` (or `python tests/bench/bench_models.py`); OTTC_BENCH_QUICK=1 runs a
smoke-sized version (two NAB categories, fewer series and sessions).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ott_runtime.benchreport import BenchReport, percentile
from ott_runtime.models.evaluation.nab_corpus import default_nab_dir
from ott_runtime.models.evaluation.ott_benchmark import generate_sessions
from ott_runtime.models.evaluation.runs import (
    NAB_ANCHORS,
    evaluate_nab,
    evaluate_ott_series,
    evaluate_ott_sessions,
)

QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"


def nab_reports() -> list[BenchReport]:
    categories = {"artificialWithAnomaly", "realAdExchange"} if QUICK else None
    started = time.perf_counter()
    score = evaluate_nab(default_nab_dir(), categories=categories, progress=print)
    profiles = list(score.profiles)
    overall = BenchReport(
        "models_nab", "NAB subset, normalised (null 0, perfect 100)", ["detector", *profiles]
    )
    overall.add(
        detector="LSTM + dynamic threshold (this)",
        **{p: round(score.overall[p], 1) for p in profiles},
    )
    for name, anchor in NAB_ANCHORS.items():
        overall.add(detector=f"{name} (anchor)", **anchor)
    overall.note(f"corpus {default_nab_dir()}" + (" (quick: 2 categories)" if QUICK else ""))
    overall.note(f"wall time {time.perf_counter() - started:.0f} s on {os.cpu_count()} CPUs")
    per_category = BenchReport(
        "models_nab_categories",
        "NAB per category: score (windows hit/missed, false positives)",
        ["category", *profiles],
    )
    for category in score.categories[profiles[0]]:
        cells = {}
        for profile in profiles:
            item = score.categories[profile][category]
            shown = "-" if item.score is None else f"{item.score:.1f}"
            cells[profile] = f"{shown} ({item.tp}/{item.fn}, fp {item.fp})"
        per_category.add(category=category, **cells)
    return [overall, per_category]


def ott_reports() -> list[BenchReport]:
    series_rows = evaluate_ott_series(n_series=2 if QUICK else 4, days=7 if QUICK else 10)
    series = BenchReport(
        "models_ott_series",
        "OTT viewing series: injected anomalies (segment level)",
        ["kind", "precision", "recall", "f1", "accuracy", "tp", "fn", "fp", "tn"],
    )
    for row in series_rows:
        series.add(**row.as_row())
    sessions = BenchReport(
        "models_ott_sessions",
        "OTT sessions: violation-prone kinds (test split)",
        ["model", "kind", "precision", "recall", "f1", "accuracy", "tp", "fn", "fp", "tn"],
    )
    for row in evaluate_ott_sessions(n_sessions=1000 if QUICK else 3000):
        sessions.add(**row)
    return [series, sessions]


def serving_report() -> BenchReport:
    from ott_runtime.models.evaluation.ott_benchmark import generate_series
    from ott_runtime.models.registry import DirectoryBackend, ModelRegistry
    from ott_runtime.models.sessions.features import encode_sessions
    from ott_runtime.models.training import (
        ENSEMBLE_MODEL,
        SERIES_MODEL,
        SESSION_MODEL,
        load_ensemble,
        load_series,
        load_session_model,
        train_series,
        train_sessions,
    )

    report = BenchReport(
        "models_serving",
        "Serving: scoring hook micro-batches and model loading",
        ["case", "p50_ms", "p99_ms", "runs"],
    )
    with tempfile.TemporaryDirectory() as folder:
        registry = ModelRegistry(DirectoryBackend(Path(folder)))
        item = generate_series(0, 1, 4)[0]
        train_series(registry, "bench", item.timestamps[:2000], item.values[:2000])
        sessions, labels, _ = generate_sessions(1, 1200)
        train_sessions(registry, "bench", sessions, labels)
        loads = []
        for _ in range(3):
            start = time.perf_counter()
            session_model = registry.load("bench", SESSION_MODEL, load_session_model)[0]
            ensemble = registry.load("bench", ENSEMBLE_MODEL, load_ensemble)[0]
            series_detector = registry.load("bench", SERIES_MODEL, load_series)[0]
            loads.append((time.perf_counter() - start) * 1000)
        report.add(
            case="load all three models of a tenant",
            p50_ms=round(float(np.median(loads)), 1),
            p99_ms=round(max(loads), 1),
            runs=len(loads),
        )
        batch = encode_sessions(sessions[:100], session_model.config.max_events)
        timings = []
        for _ in range(60):
            start = time.perf_counter()
            ensemble.predict(session_model.predict(batch), batch)
            timings.append((time.perf_counter() - start) * 1000)
        timings = timings[10:]  # the first calls trace the graph
        report.add(
            case="ensemble risk, batch of 100 sessions",
            p50_ms=round(percentile(timings, 50), 2),
            p99_ms=round(percentile(timings, 99), 2),
            runs=len(timings),
        )
        series_detector.prime(item.timestamps[:2000], item.values[:2000])
        updates = []
        for i in range(2000, 2100):
            start = time.perf_counter()
            series_detector.update(item.timestamps[i], item.values[i])
            updates.append((time.perf_counter() - start) * 1000)
        updates = updates[10:]
        report.add(
            case="series detector, one bucket (streaming update)",
            p50_ms=round(percentile(updates, 50), 2),
            p99_ms=round(percentile(updates, 99), 2),
            runs=len(updates),
        )
    report.note("targets: batch of 100 p99 < 20 ms; loading a tenant's models < 5 s")
    return report


def main() -> None:
    for report in [*nab_reports(), *ott_reports(), serving_report()]:
        report.emit()


if __name__ == "__main__":
    main()
