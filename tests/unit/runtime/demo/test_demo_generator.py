"""The demo's synthetic stream: valid events, daily/weekly cycles, ad pods, and injected
violations that the example regulations actually catch (and few false alarms without)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ott_runtime.demo import EventGenerator, audience_factor
from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.events import parse_event, to_rule_input
from ott_runtime.domain.rules import compile_rules, resolve_rules

REPO = Path(__file__).resolve().parents[4]
START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday


SETS, TENANTS = load_resources(
    [REPO / "examples" / "regulationsets", REPO / "examples" / "tenants"]
)
NAMES = sorted(TENANTS)


class Checker:
    """The example tenants' compiled rules and windows, as the runtime holds them."""

    def __init__(self) -> None:
        resolved = {n: resolve_rules(TENANTS[n].spec, SETS) for n in NAMES}
        self.rules = {n: compile_rules(r) for n, r in resolved.items()}
        self.windows = {n: WindowAggregator.for_rules(r) for n, r in resolved.items()}

    def hits(self, tenant: str, raw: dict[str, object]) -> set[str]:
        event = to_rule_input(parse_event(raw))  # raises if the generator made garbage
        values = self.windows[tenant].observe(event)
        return {hit.rule_id for hit in self.rules[tenant].evaluate(event, values)}


def test_ordinary_traffic_is_valid_and_mostly_compliant() -> None:
    checker, generator = Checker(), EventGenerator(NAMES, start=START, seed=11, violation_rate=0)
    flagged, types = 0, Counter[str]()
    for minute in range(240):
        for tenant, events in generator.events_at(START + timedelta(minutes=minute), 8).items():
            for raw in events:
                types[str(raw["type"])] += 1
                flagged += bool(checker.hits(tenant, raw))
    assert flagged / types.total() < 0.02, (flagged, types.total())
    assert {"playback.start", "playback.heartbeat", "ad.impression", "consent.update"} <= set(types)


def test_every_injected_violation_is_caught_by_some_example_tenant() -> None:
    checker, generator = Checker(), EventGenerator(NAMES, start=START, seed=11)
    for name, inject in generator._injections:
        caught: set[str] = set()
        for tenant in NAMES:
            for minute in range(0, 50, 10):  # five times within the hour (ad overload)
                for raw in inject(generator.worlds[tenant], START + timedelta(minutes=minute)):
                    caught |= checker.hits(tenant, raw)
        assert caught, f"no example regulation catches the injected {name!r}"


def test_viewing_follows_daily_and_weekly_cycles() -> None:
    hours = [audience_factor(START + timedelta(hours=h)) for h in range(24)]
    assert max(hours) / min(hours) > 1.5
    monday = sum(audience_factor(START + timedelta(hours=h)) for h in range(24))
    saturday = sum(audience_factor(START + timedelta(days=5, hours=h)) for h in range(24))
    assert saturday > monday * 1.1


def test_linear_channels_run_ad_pods_and_the_stream_is_reproducible() -> None:
    def ads(seed: int) -> list[tuple[str, str]]:
        generator = EventGenerator(["acme"], start=START, seed=seed, violation_rate=0)
        found = []
        for minute in range(120):
            for event in generator.events_at(START + timedelta(minutes=minute), 5)["acme"]:
                if event["type"] == "ad.impression" and "channelId" in event["content"]:
                    found.append((event["content"]["channelId"], event["time"][:16]))
        return found

    pods = Counter(ads(5))
    assert pods
    assert max(pods.values()) >= 2  # several spots in the same break
    assert ads(5) == ads(5)
    assert ads(5) != ads(6)


def test_a_generator_needs_tenants() -> None:
    with pytest.raises(ValueError, match="at least one tenant"):
        EventGenerator([], start=START)


def test_runs_over_the_same_days_get_their_own_event_ids() -> None:
    # ingest deduplicates by id: a second demo run must not be answered as duplicates
    first = EventGenerator(["acme"], start=START, seed=11, run="a1")
    second = EventGenerator(["acme"], start=START, seed=11, run="b2")
    ids_first = {e["id"] for e in first.events_at(START, 30)["acme"]}
    ids_second = {e["id"] for e in second.events_at(START, 30)["acme"]}
    assert ids_first
    assert not ids_first & ids_second
