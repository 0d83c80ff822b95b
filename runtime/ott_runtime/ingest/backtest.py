"""Backtest: a tenant's stored events replayed through the rules in force and through a
proposed set of rules, side by side, writing nothing.

Events are read in stored order in batches (memory stays bounded by the batch and the
aggregate windows), decrypted as the API decrypts them, and fed to two rule engines with
their own windows, so windowed aggregates behave as they would have. The report says per
rule how often it fires now and would fire as proposed, with sample event ids of the
violations the proposal adds and removes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ott_runtime.domain.rules import ResolvedRules, RuleReplay, compile_rules
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.storage import EventQuery, Store, TenantScope

BATCH = 1000
SAMPLES = 5


@dataclass
class RuleDifference:
    rule: str
    now: int = 0
    proposed: int = 0
    added: list[str] = field(default_factory=list)  # event ids: fire only as proposed
    removed: list[str] = field(default_factory=list)  # fire only now

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "now": self.now, "proposed": self.proposed,
                "addedSamples": self.added, "removedSamples": self.removed}  # fmt: skip


@dataclass
class BacktestReport:
    tenant: str
    since: datetime | None
    until: datetime | None
    events: int = 0
    unreadable: int = 0  # events whose encrypted fields did not open (integrity errors)
    seconds: float = 0.0
    rules: dict[str, RuleDifference] = field(default_factory=dict)

    @property
    def changed(self) -> list[RuleDifference]:
        return [r for r in self.rules.values() if r.now != r.proposed or r.added or r.removed]

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "events": self.events,
            "unreadable": self.unreadable,
            "seconds": round(self.seconds, 3),
            "eventsPerSecond": round(self.events / self.seconds) if self.seconds else None,
            "rules": [r.to_json() for r in sorted(self.rules.values(), key=lambda r: r.rule)],
        }


async def backtest(
    store: Store,
    runtime: TenantRuntime,
    current: ResolvedRules,
    proposed: ResolvedRules,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> BacktestReport:
    """Replay ``runtime``'s stored events in [since, until) through ``current`` and
    ``proposed`` (RuleCompileError if the proposal does not compile); reads only."""
    started = time.perf_counter()
    now, then = RuleReplay(compile_rules(current)), RuleReplay(compile_rules(proposed))
    report = BacktestReport(runtime.name, since, until)
    for resolved in (current, proposed):
        for resolved_rule in resolved.rules:
            qualified = resolved_rule.qualified_id
            report.rules.setdefault(qualified, RuleDifference(qualified))
    counts_now: Counter[str] = Counter()
    counts_then: Counter[str] = Counter()
    cipher = runtime.cipher
    after: int | None = None
    while True:
        query = EventQuery(since=since, until=until, after_seq=after, limit=BATCH)
        async with store.read(TenantScope(runtime.name)) as data:
            rows = await data.events.find(query)
        if not rows:
            break
        for row in rows:
            opened = cipher.decrypt_document(row.payload, row.event_id)
            if opened.errors:
                report.unreadable += 1
            event = opened.document
            fired_now = {hit.qualified_id for hit in now.hits(event)}
            fired_then = {hit.qualified_id for hit in then.hits(event)}
            counts_now.update(fired_now)
            counts_then.update(fired_then)
            for rule in fired_then - fired_now:
                samples = report.rules[rule].added
                if len(samples) < SAMPLES:
                    samples.append(row.event_id)
            for rule in fired_now - fired_then:
                samples = report.rules[rule].removed
                if len(samples) < SAMPLES:
                    samples.append(row.event_id)
        report.events += len(rows)
        after = rows[-1].seq
        if progress is not None:
            progress(report.events)
    for rule, difference in report.rules.items():
        difference.now, difference.proposed = counts_now[rule], counts_then[rule]
    report.seconds = time.perf_counter() - started
    return report
