"""The series evaluations as tables (``BenchReport``): `ottc eval` prints them, `ottc bench
models` prints and writes them. Every row names the protocol its figures were made under."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ott_runtime.benchreport import BenchReport
from ott_runtime.models.evaluation.loco import ProtocolResult
from ott_runtime.models.evaluation.ott_benchmark import KindMetrics
from ott_runtime.models.evaluation.protocols import (
    OTT_TUNE_SEEDS,
    PROTOCOL_NAMES,
    NabEvaluation,
    OttEvaluation,
    label,
)
from ott_runtime.models.evaluation.runs import NAB_ANCHORS

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
ANCHOR_PROTOCOL = "in-sample (NAB's: threshold chosen on every file)"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _three(values: dict[str, float | None]) -> str:
    return " / ".join(_fmt(values[p]) for p in PROFILES)


def nab_table(
    protocol: str, result: ProtocolResult, anchor: ProtocolResult | None, corpus: str
) -> BenchReport:
    name = PROTOCOL_NAMES[protocol]
    report = BenchReport(
        f"models_nab_{protocol.replace('-', '_')}",
        f"NAB, {name}: standard / low FP / low FN (null 0, perfect 100)",
        ["protocol", "held out", "setting chosen", "this detector", "hit/missed, fp", "HTM"],
    )
    anchor_folds = {f.category: f for f in anchor.folds} if anchor else {}
    for fold in result.folds:
        standard = fold.profiles["standard"]
        other = anchor_folds.get(fold.category)
        report.add(
            protocol=name,
            **{"held out": fold.category, "setting chosen": fold.choice},
            **{"this detector": _three({p: fold.profiles[p].score for p in PROFILES})},
            **{"hit/missed, fp": f"{standard.tp}/{standard.fn}, fp {standard.fp}"},
            HTM="-"
            if other is None
            else f"{_three({p: other.profiles[p].score for p in PROFILES})}"
            f" (fp {other.profiles['standard'].fp})",
        )
    summaries: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
        ("mean of categories", dict(result.mean), anchor.mean if anchor else None),
        ("pooled: all files", dict(result.pooled), anchor.pooled if anchor else None),
    ]
    for row, ours, theirs in summaries:
        report.add(
            protocol=name,
            **{"held out": row, "setting chosen": "", "this detector": _three(ours)},
            **{"hit/missed, fp": ""},
            HTM="-" if theirs is None else _three(theirs),
        )
    report.note(f"corpus {corpus}; HTM: Numenta HTM's published outputs, same protocol")
    if protocol == "loco":
        report.note(
            "each category is scored with the setting and the thresholds chosen on the others"
        )
    else:
        report.note("optimistic: settings and thresholds chosen on the very files scored")
    return report


def anchors_table() -> BenchReport:
    report = BenchReport(
        "models_nab_anchors",
        "NAB anchors on the whole bundled 29-file subset (published outputs, NAB's scorer)",
        ["protocol", "detector", *PROFILES],
    )
    for detector, scores in NAB_ANCHORS.items():
        report.add(protocol=ANCHOR_PROTOCOL, detector=detector, **scores)
    report.note("per category only Numenta HTM's outputs are in the corpus (see the tables above)")
    return report


def cost_note(report: BenchReport, cost: dict[str, Any], what: str) -> None:
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in cost["seconds"].items())
    cached = cost["files_read_from_cache"]
    source = "all computed" if not cached else f"{cached} of {cost['files']} read from the cache"
    report.note(
        f"{what}: {cost['files']} series, {cost['rows']:,} rows ({source}), "
        f"{cost['seconds_per_1000_rows']:.3f} s per 1,000 rows ({stages}); "
        f"peak memory {cost['peak_rss_mib']:.0f} MiB (process RSS)"
    )


def nab_tables(evaluation: NabEvaluation, corpus: str) -> list[BenchReport]:
    tables = [
        nab_table(p, r, evaluation.anchor.get(p), corpus) for p, r in evaluation.detector.items()
    ]
    cost_note(tables[-1], evaluation.cost.to_json(), "cost of this evaluation")
    return [*tables, anchors_table()]


def _metrics_row(protocol: str, what: str, m: KindMetrics) -> dict[str, Any]:
    row = m.as_row()
    row.pop("kind")
    return {"protocol": protocol, "seeds": what, **row}


def ott_tables(evaluation: OttEvaluation) -> list[BenchReport]:
    tuned = f"{label(evaluation.alert)}, level {evaluation.level:g}: chosen on seeds "
    tuned += f"{OTT_TUNE_SEEDS[0]}-{OTT_TUNE_SEEDS[-1]}"
    columns = ["protocol", "seeds", "precision", "recall", "f1", "accuracy", "tp", "fn", "fp", "tn"]
    per_seed = BenchReport(
        "models_ott_series",
        "OTT viewing series: injected anomalies (segment level), per report seed",
        columns,
    )
    for seed, rows in evaluation.report.items():
        per_seed.add(**_metrics_row(f"{tuned}, reported", f"seed {seed}", rows[-1]))
    summary = evaluation.summary()
    per_seed.note(
        f"{tuned}; seeds {', '.join(map(str, evaluation.report))}: F1 mean "
        f"{summary['f1_mean']:.3f}, worst {summary['f1_worst']:.3f}; accuracy mean "
        f"{summary['accuracy_mean']:.3f}, worst {summary['accuracy_worst']:.3f}"
    )
    per_seed.note("targets: F1 > 0.95 and accuracy > 0.96 on the report seeds")
    cost_note(per_seed, evaluation.cost.to_json(), "cost")
    kinds = BenchReport(
        "models_ott_series_kinds",
        "OTT viewing series per anomaly kind, all report seeds together",
        ["protocol", "kind", "precision", "recall", "f1", "accuracy", "tp", "fn", "fp", "tn"],
    )
    names = [m.kind for m in next(iter(evaluation.report.values()))]
    for index, kind in enumerate(names):
        parts = [rows[index] for rows in evaluation.report.values()]
        pooled = KindMetrics(
            kind,
            sum(m.tp for m in parts),
            sum(m.fn for m in parts),
            sum(m.fp for m in parts),
            sum(m.tn for m in parts),
        )
        kinds.add(protocol=f"{tuned}, reported", **pooled.as_row())
    tuning = BenchReport(
        "models_ott_tuning",
        "OTT setting and alert level on the tuning seeds (in-sample there: what chose them)",
        columns,
    )
    seeds = f"{OTT_TUNE_SEEDS[0]}-{OTT_TUNE_SEEDS[-1]}"
    for (setting, level), metrics in evaluation.tuning.items():
        tuning.add(**_metrics_row(f"tuning: {setting}, level {level:g}", seeds, metrics))
    return [per_seed, kinds, tuning]


def render(report: BenchReport) -> Table:
    """A report as a rich table with its notes as the caption (printing only, no JSON)."""
    table = Table(title=report.title, caption="\n".join(report.notes) or None)
    for column in report.columns:
        table.add_column(column)
    for row in report.rows:
        table.add_row(*("-" if row.get(c) is None else str(row.get(c)) for c in report.columns))
    return table
