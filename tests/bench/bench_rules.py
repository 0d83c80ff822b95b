"""Rule engine micro-benchmark over the whole catalog (not part of pytest).

Measures: compile time of every catalog rule; per event type, the time to evaluate the
rules whose appliesTo matches (as CompiledRules does: natively where the rule compiles
natively, else on one shared CEL context per event) and the same rules run the naive way
on the cel library (a fresh Python dict converted for every rule), as the baseline of the
ratio; and the aggregate windows' cost per event.

    .venv/bin/python tests/bench/bench_rules.py        (or: ottc bench rules)
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import cel

from ott_runtime.benchreport import BenchReport, median_seconds
from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.cel_expressions import trim_event
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.events import parse_event, to_rule_input
from ott_runtime.domain.rules import compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenantSpec

REPO = Path(__file__).resolve().parents[2]
QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
ROUNDS = 200 if QUICK else 2000


def main() -> None:
    report = BenchReport(
        name="rules",
        title="CEL rule engine over the catalog (µs; ratio = naive / engine)",
        columns=["case", "rules", "engine µs/event", "engine µs/rule", "naive µs/rule", "ratio"],
    )
    with report.timed():
        sets, _ = load_resources([REPO / "examples" / "regulationsets"])
        spec = ComplianceTenantSpec.model_validate(
            {"displayName": "bench", "regulations": [{"name": name} for name in sorted(sets)]}
        )
        resolved = resolve_rules(spec, sets)
        compile_s = median_seconds(lambda: compile_rules(resolved), repeats=3 if QUICK else 7)
        compiled = compile_rules(resolved)
        report.note(
            f"compile: {len(resolved.rules)} rules in {compile_s * 1e3:.1f} ms "
            f"({compile_s * 1e6 / len(resolved.rules):.0f} µs/rule, incl. static checks)"
        )
        lines = (REPO / "examples" / "events" / "scenario.jsonl").read_text().splitlines()
        events = [to_rule_input(parse_event(line)) for line in lines if line.strip()]
        windows = WindowAggregator.for_rules(resolved)
        values = {e["id"]: windows.observe(e) for e in events}
        total_engine = total_naive = 0.0
        total_rules = 0
        for event in events:
            rules = compiled.rules_for(event["type"])
            if not rules:
                continue
            aggregates = values[event["id"]]
            engine = _per_call(lambda e=event, a=aggregates: compiled.evaluate(e, a))
            naive_programs = [cel.compile(r.when) for r in rules]
            activations = [
                {
                    "event": event,
                    "params": dict(r.params),
                    "aggregates": aggregates.get(r.regulation, {}),
                }
                for r in rules
            ]
            naive = _per_call(lambda p=naive_programs, a=activations: _naive(p, a))
            total_engine += engine
            total_naive += naive
            total_rules += len(rules)
            report.add(
                case=f"{event['id']} {event['type']}",
                rules=len(rules),
                **{
                    "engine µs/event": engine * 1e6,
                    "engine µs/rule": engine * 1e6 / len(rules),
                    "naive µs/rule": naive * 1e6 / len(rules),
                    "ratio": naive / engine,
                },
            )
        report.add(
            case="all events",
            rules=total_rules,
            **{
                "engine µs/event": total_engine * 1e6 / len(events),
                "engine µs/rule": total_engine * 1e6 / total_rules,
                "naive µs/rule": total_naive * 1e6 / total_rules,
                "ratio": total_naive / total_engine,
            },
        )
        trivial = cel.compile("true")
        convert = _per_call(
            lambda: [
                trivial.execute(
                    cel.Context(
                        variables={"event": trim_event(e, compiled.event_fields(e["type"]))}
                    )
                )
                for e in events
            ]
        ) / len(events)
        report.note(
            f"{len(compiled.native_rules)} of {len(resolved.rules)} rules run on the native "
            f"evaluator (domain/celnative); the library alone would first convert the fields "
            f"they read to CEL values: {convert * 1e6:.1f} µs/event"
        )
        observe = _per_call(lambda: [windows.observe(e) for e in events]) / len(events)
        report.note(f"aggregate windows: {observe * 1e6:.1f} µs/event (observe = add + values)")
        report.note(
            f"{ROUNDS} rounds per case; errors in evaluation: {sum(compiled.stats.errors.values())}"
        )
    report.emit()


def _naive(programs: list[cel.Program], activations: list[dict[str, Any]]) -> None:
    for program, activation in zip(programs, activations, strict=True):
        with contextlib.suppress(Exception):  # missing fields raise here as in the engine
            program.execute(activation)


def _per_call(run: Any) -> float:
    run()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(ROUNDS // 3):
            run()
        best = min(best, (time.perf_counter() - start) / (ROUNDS // 3))
    return best


if __name__ == "__main__":
    main()
