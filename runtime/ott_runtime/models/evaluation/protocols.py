"""The series detector's evaluations, each under a named protocol that cannot flatter it.

NAB: every file's forecast and signals are computed once (cached, :mod:`.forecast_cache`);
each candidate of ``NAB_GRID`` fuses and gates them; :mod:`.loco` then chooses a candidate and
the thresholds leave-one-category-out (or, labelled in-sample, on every file). Numenta HTM's
published outputs on the same files go through the same protocol, as the anchor.

OTT benchmark: the setting (of ``OTT_GRID``) and the alert level (which a live alert needs,
where NAB optimises a threshold) are chosen on seeds ``OTT_TUNE_SEEDS``, and the result is
reported on ``OTT_REPORT_SEEDS``, seeds that chose nothing.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ott_runtime.models.evaluation.forecast_cache import DEFAULT_CACHE_DIR, is_cached, signals
from ott_runtime.models.evaluation.loco import (
    ProtocolResult,
    in_sample,
    leave_one_category_out,
)
from ott_runtime.models.evaluation.nab import LabelledFile
from ott_runtime.models.evaluation.nab_corpus import CorpusError, iter_series, load_published_scores
from ott_runtime.models.evaluation.ott_benchmark import (
    KindMetrics,
    evaluate_series,
    generate_series,
)
from ott_runtime.models.series.alerting import AlertConfig, onset_series
from ott_runtime.models.series.detector import DetectorConfig, SeriesAnomalyDetector

Progress = Callable[[str], None]
PROTOCOLS = ("loco", "in-sample")
PROTOCOL_NAMES = {
    "loco": "leave-one-category-out",
    "in-sample": "in-sample (chosen on every file)",
}
# The candidates searched: the one setting whose best value is in doubt (AlertConfig's
# docstring has the evidence for the others).
NAB_GRID: tuple[AlertConfig, ...] = tuple(AlertConfig(rest_warmups=rest) for rest in (0.5, 1.0))
ANCHOR = "numenta"  # the published detector outputs kept in the corpus
OTT_TUNE_SEEDS = tuple(range(5))
OTT_REPORT_SEEDS = tuple(range(100, 110))
OTT_LEVELS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
OTT_GRID = NAB_GRID  # the product's setting, whose rest period is the one in doubt


def label(alert: AlertConfig) -> str:
    parts = [name for name in ("seasonal", "level", "breakout") if getattr(alert, name)]
    return f"{'+'.join(parts)}, rest {alert.rest_warmups:g}"


@dataclass
class Cost:
    """Where an evaluation's time went, and its peak memory."""

    rows: int = 0
    files: int = 0
    cached: int = 0  # files whose forecast and signals were read from the cache
    seconds: dict[str, float] = field(default_factory=dict)

    def count(self, timestamps: Any, values: Any, config: DetectorConfig, cache: Any) -> None:
        self.files += 1
        self.rows += len(values)
        self.cached += is_cached(timestamps, values, config, cache)

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    @property
    def per_1000_rows(self) -> float:
        return 1000 * sum(self.seconds.values()) / max(self.rows, 1)

    @staticmethod
    def peak_rss_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "files": self.files,
            "files_read_from_cache": self.cached,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "seconds_per_1000_rows": round(self.per_1000_rows, 3),
            "peak_rss_mib": round(self.peak_rss_mib(), 1),
        }


@dataclass
class NabEvaluation:
    detector: dict[str, ProtocolResult]  # protocol -> result
    anchor: dict[str, ProtocolResult]  # Numenta HTM, same protocols (absent without outputs)
    cost: Cost

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": {p: r.to_json() for p, r in self.detector.items()},
            "anchor_numenta_htm": {p: r.to_json() for p, r in self.anchor.items()},
            "grid": [label(a) for a in NAB_GRID],
            "cost": self.cost.to_json(),
        }


def _run(protocol: str, candidates: Any) -> ProtocolResult:
    if protocol == "loco":
        return leave_one_category_out(candidates)
    if protocol == "in-sample":
        return in_sample(candidates)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def evaluate_nab(
    corpus_dir: Path,
    protocols: Sequence[str] = PROTOCOLS,
    categories: set[str] | None = None,
    progress: Progress | None = None,
    config: DetectorConfig | None = None,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    grid: Sequence[AlertConfig] = NAB_GRID,
) -> NabEvaluation:
    """The detector (and the anchor) under each protocol on a corpus in NAB's layout."""
    config = config or DetectorConfig()
    cost = Cost()
    candidates: dict[str, dict[str, LabelledFile]] = {label(a): {} for a in grid}
    for series in iter_series(corpus_dir, categories):
        if progress:
            progress(series.name)
        cost.count(series.timestamps, series.values, config, cache_dir)
        started = time.perf_counter()
        rows = signals(series.timestamps, series.values, config, cache_dir)
        cost.add("forecast and signals", started)
        started = time.perf_counter()
        detector = SeriesAnomalyDetector(config)
        warmup = detector.warmup_rows(len(series.values))
        for alert in grid:
            chosen = replace(config, alert=alert)
            rest = SeriesAnomalyDetector(chosen).rest_rows(warmup)
            onsets = onset_series(rows, alert, warmup, rest, config.threshold.max_delay)
            candidates[label(alert)][series.name] = LabelledFile(
                series.timestamps, onsets, series.windows
            )
        cost.add("fuse and gate", started)
    started = time.perf_counter()
    detector_results = {p: _run(p, candidates) for p in protocols}
    anchor: dict[str, ProtocolResult] = {}
    try:
        published = load_published_scores(corpus_dir, ANCHOR)
    except CorpusError:
        published = {}
    names = set(next(iter(candidates.values())))
    if published and names <= set(published):
        chosen_files = {n: published[n] for n in sorted(names)}
        anchor = {p: _run(p, {"Numenta HTM": chosen_files}) for p in protocols}
    cost.add("protocol search and scoring", started)
    return NabEvaluation(detector_results, anchor, cost)


@dataclass(frozen=True)
class OttEvaluation:
    alert: AlertConfig  # the setting chosen on the tuning seeds
    level: float  # and the alert level
    tuning: dict[tuple[str, float], KindMetrics]  # (setting, level) -> tuning seeds pooled
    report: dict[int, list[KindMetrics]]  # report seed -> metrics per kind and "all"
    cost: Cost

    def summary(self) -> dict[str, float]:
        overall = [rows[-1] for rows in self.report.values()]
        return {
            "f1_mean": float(np.mean([m.f1 for m in overall])),
            "f1_worst": float(min(m.f1 for m in overall)),
            "accuracy_mean": float(np.mean([m.accuracy for m in overall])),
            "accuracy_worst": float(min(m.accuracy for m in overall)),
        }

    @property
    def protocol(self) -> str:
        low, high = min(self.report), max(self.report)
        reported = f"seed {low}" if low == high else f"seeds {low}-{high}"
        return (
            f"{label(self.alert)}, alert level {self.level:g}: chosen on seeds "
            f"{OTT_TUNE_SEEDS[0]}-{OTT_TUNE_SEEDS[-1]}, reported on {reported}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "setting": label(self.alert),
            "level": self.level,
            "tuning": {f"{k[0]}, level {k[1]:g}": v.as_row() for k, v in self.tuning.items()},
            "report": {str(s): [m.as_row() for m in rows] for s, rows in self.report.items()},
            "summary": {k: round(v, 4) for k, v in self.summary().items()},
            "cost": self.cost.to_json(),
        }


OttRun = tuple[list[Any], list[np.ndarray]]  # (the series, each one's signals)


def _ott_signals(
    seeds: Iterable[int],
    config: DetectorConfig,
    cache_dir: Path | None,
    cost: Cost,
    progress: Progress | None,
    n_series: int,
    days: int,
) -> dict[int, OttRun]:
    runs: dict[int, OttRun] = {}
    for seed in seeds:
        series, rows = generate_series(seed, n_series, days), []
        for item in series:
            if progress:
                progress(f"seed {seed} {item.name}")
            cost.count(item.timestamps, item.values, config, cache_dir)
            started = time.perf_counter()
            rows.append(signals(item.timestamps, item.values, config, cache_dir))
            cost.add("forecast and signals", started)
        runs[seed] = (series, rows)
    return runs


def _onsets(run: OttRun, config: DetectorConfig, alert: AlertConfig) -> list[np.ndarray]:
    detector = SeriesAnomalyDetector(replace(config, alert=alert))
    onsets = []
    for item, rows in zip(*run, strict=True):
        warmup = detector.warmup_rows(len(item.values))
        rest = detector.rest_rows(warmup)
        onsets.append(onset_series(rows, alert, warmup, rest, config.threshold.max_delay))
    return onsets


def evaluate_ott(
    tune_seeds: Sequence[int] = OTT_TUNE_SEEDS,
    report_seeds: Sequence[int] = OTT_REPORT_SEEDS,
    levels: Sequence[float] = OTT_LEVELS,
    grid: Sequence[AlertConfig] = OTT_GRID,
    n_series: int = 4,
    days: int = 10,
    config: DetectorConfig | None = None,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    progress: Progress | None = None,
) -> OttEvaluation:
    """Setting and alert level chosen by F1 (then accuracy) on ``tune_seeds`` pooled, then
    reported per seed on ``report_seeds``."""
    config = config or DetectorConfig()
    cost = Cost()
    runs = _ott_signals(tune_seeds, config, cache_dir, cost, progress, n_series, days)
    pooled: OttRun = (
        [s for r in runs.values() for s in r[0]],
        [x for r in runs.values() for x in r[1]],
    )
    started = time.perf_counter()
    tuning: dict[tuple[str, float], KindMetrics] = {}
    for alert in grid:
        onsets = _onsets(pooled, config, alert)
        for level in levels:
            tuning[(label(alert), level)] = evaluate_series(
                pooled[0], [o >= level for o in onsets]
            )[-1]
    best = max(tuning, key=lambda k: (tuning[k].f1, tuning[k].accuracy))
    cost.add("fuse, gate and choose", started)
    alert, level = {label(a): a for a in grid}[best[0]], best[1]
    report = {}
    for seed, run in _ott_signals(
        report_seeds, config, cache_dir, cost, progress, n_series, days
    ).items():
        report[seed] = evaluate_series(run[0], [o >= level for o in _onsets(run, config, alert)])
    return OttEvaluation(alert, level, tuning, report, cost)
