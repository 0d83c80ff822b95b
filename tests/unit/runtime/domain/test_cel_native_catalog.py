"""The catalog's rules and aggregate filters run natively, with the library's verdicts.

Every rule and aggregate ``where`` of examples/regulationsets must compile natively; each
is then evaluated by both engines on the demo generator's events (validated as ingest
validates them) and on mutations of them (fields removed, nulled, retyped), and the
outcomes must agree. The rule engine and the aggregate windows are also run whole, with
and without the native programs, and must give the same hits, counters and windows.
"""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cel
import pytest

from ott_runtime.demo.generator import EventGenerator
from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.celnative import NeedsLibrary
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.rules import CompiledRules, ResolvedRules, compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest.schemas import event_validators

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def resolved() -> ResolvedRules:
    sets, _ = load_resources([REPO / "examples" / "regulationsets"])
    spec = ComplianceTenantSpec.model_validate(
        {"displayName": "catalog", "regulations": [{"name": name} for name in sorted(sets)]}
    )
    return resolve_rules(spec, sets)


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """Validated generator events, violations injected at a high rate, then mutations."""
    start = datetime(2025, 3, 1, 5, tzinfo=UTC)
    generator = EventGenerator(["t"], start=start, seed=11, violation_rate=0.3)
    validators = event_validators()
    valid = []
    for minute in range(12):
        for raw in generator.events_at(start + timedelta(minutes=minute * 37), 30)["t"]:
            event = validators[str(raw["type"])](raw)
            assert isinstance(event, dict), event
            valid.append(event)
    rng = random.Random(5)
    return valid + [mutate(event, rng) for event in valid for _ in range(2)]


RETYPED = [None, True, 0, -1, 2.5, "", "x", "2025-03-01T05:00:00Z", [], ["US"], {}, {"a": 1}]


def mutate(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy with one to three fields (at any depth, the type kept) removed or retyped."""
    mutated = copy.deepcopy(event)
    for _ in range(rng.randint(1, 3)):
        holder, key = _pick(mutated, rng)
        if holder is None:
            continue
        if rng.random() < 0.4:
            del holder[key]
        else:
            holder[key] = copy.deepcopy(rng.choice(RETYPED))
    return mutated


def _pick(event: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any] | None, str]:
    holder: dict[str, Any] = event
    while True:
        keys = [k for k in holder if k != "type"]
        if not keys:
            return None, ""
        key = rng.choice(keys)
        if isinstance(holder[key], dict) and holder[key] and rng.random() < 0.7:
            holder = holder[key]
            continue
        return holder, key


def outcome(run: Any) -> tuple[str, str]:
    try:
        value = run()
    except KeyError as error:
        return ("missing", str(error))
    except Exception as error:
        return ("error", type(error).__name__)
    return ("value", f"{type(value).__name__}:{value!r}")


def test_every_catalog_rule_and_filter_compiles_natively(resolved: ResolvedRules) -> None:
    compiled = compile_rules(resolved)
    assert compiled.native_rules == {rule.qualified_id for rule in resolved.rules}
    windows = WindowAggregator.for_rules(resolved)
    filtered = [s for s in windows._series if s.spec.where is not None]
    assert filtered, "the catalog has aggregate filters"
    assert all(series.where_native is not None for series in filtered)


def test_native_and_library_agree_on_every_rule(
    resolved: ResolvedRules, events: list[dict[str, Any]]
) -> None:
    compiled = compile_rules(resolved)
    windows = WindowAggregator.for_rules(resolved)
    compared = declined = 0
    seen: set[tuple[str, str]] = set()
    for event in events:
        event_type = str(event.get("type"))
        items = compiled._by_type.get(event_type, ())
        if not items:
            continue
        values = windows.observe(event) if "time" in event and _plain_time(event) else {}
        variables: dict[str, Any] = {"event": event}
        for regulation, alias in compiled._aggregate_aliases[event_type]:
            variables[alias] = values.get(regulation, {})
        context = cel.Context(variables={k: copy.deepcopy(v) for k, v in variables.items()})
        for item in items:
            assert item.native is not None
            native = outcome(lambda i=item, v=variables: i.native(v))
            if native == ("error", "NeedsLibrary"):
                declined += 1
                continue
            library = outcome(lambda i=item, c=context: i.program.execute(c))
            assert native == library, (item.qualified_id, event)
            seen.add((item.qualified_id, native[0] if native[0] != "value" else native[1]))
            compared += 1
    assert compared > 3000
    assert declined == 0
    verdicts = {verdict for _, verdict in seen}
    assert {"bool:True", "bool:False", "missing", "error"} <= verdicts  # all outcomes met


def _plain_time(event: dict[str, Any]) -> bool:
    try:
        datetime.fromisoformat(str(event["time"]))
    except ValueError:
        return False
    return True


def test_native_and_library_agree_on_every_filter(
    resolved: ResolvedRules, events: list[dict[str, Any]]
) -> None:
    windows = WindowAggregator.for_rules(resolved)
    compared = 0
    for series in windows._series:
        if series.where_native is None or series.where is None:
            continue
        for event in events:
            if event.get("type") != series.spec.of:
                continue
            native = outcome(lambda s=series, e=event: s.where_native({"event": e}))
            context = cel.Context(variables={"event": copy.deepcopy(event)})
            library = outcome(lambda s=series, c=context: s.where.execute(c))
            assert native == library, (series.spec.name, event)
            compared += 1
    assert compared > 100


def library_only(compiled: CompiledRules) -> CompiledRules:
    by_type = {
        event_type: tuple(replace(item, native=None) for item in items)
        for event_type, items in compiled._by_type.items()
    }
    aliases = {regulation: alias for alias, regulation in compiled._alias_regulation.items()}
    return CompiledRules(compiled.resolved, by_type, aliases, compiled._hidden)


def test_the_engine_gives_the_same_hits_and_counters_with_and_without_native(
    resolved: ResolvedRules, events: list[dict[str, Any]]
) -> None:
    native = compile_rules(resolved, redact=["viewer.email"])
    library = library_only(native)
    assert not library.native_rules
    windows = WindowAggregator.for_rules(resolved)
    hits = 0
    for event in events:
        values = windows.observe(event) if "time" in event and _plain_time(event) else {}
        expected = library.evaluate(event, values)
        assert native.evaluate(event, values) == expected
        hits += len(expected)
    assert hits > 20
    for counter in ("evaluated", "hits", "missing", "errors"):
        assert getattr(native.stats, counter) == getattr(library.stats, counter), counter
    assert native.stats.last_error.keys() == library.stats.last_error.keys()


def test_the_windows_count_the_same_events_with_and_without_native(
    resolved: ResolvedRules, events: list[dict[str, Any]]
) -> None:
    native = WindowAggregator.for_rules(resolved)
    library = WindowAggregator.for_rules(resolved)
    for series in library._series:
        series.where_native = None
    timed = [e for e in events if "time" in e and _plain_time(e)]
    assert [native.observe(e) for e in timed] == [library.observe(e) for e in timed]


def test_an_event_the_native_side_declines_is_evaluated_by_the_library(
    resolved: ResolvedRules,
) -> None:
    compiled = compile_rules(resolved)
    event = {"type": "ad.impression", "geo": {"country": "US"}, "viewer": {"age": 2**64}}
    rule = next(i for i in compiled._by_type["ad.impression"] if "age" in i.rule.when)
    assert rule.native is not None
    with pytest.raises(NeedsLibrary):
        rule.native({"event": event})
    compiled.evaluate(event, {})
    assert compiled.stats.evaluated[rule.qualified_id] == 1
