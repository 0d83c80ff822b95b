"""Rule tests (``ottc test``): a tenant's rules run over a sequence of events, each event's
outcome checked against what the test expects, as ``kyverno test`` does for policies.

A test file holds ``RuleTest`` documents beside the RegulationSets they exercise::

    apiVersion: compliance.ott.dev/v1alpha1
    kind: RuleTest
    metadata: {name: eu-avmsd}
    spec:
      tenant: {regulations: [{name: eu-avmsd}]}   # a ComplianceTenant spec (overrides too)
      start: "2026-11-26T10:00:00Z"                # the first event's time (default shown)
      defaults:                                    # merged into every event of the type
        ad.impression: {content: {channelId: ch1}, ad: {durationSeconds: 30}}
      cases:
      - name: the hourly ad limit
        steps:
        - event: {type: ad.impression}
          repeat: 24                               # 24 ads a minute apart: 720 s
          fires: []                                # checked on every repetition
        - event: {type: ad.impression}
          fires: [eu-avmsd/ad-time-limit]
          message: "of ads"                        # a substring of the first hit's message

Events run in order through the tenant's aggregate windows (each case starts with empty
ones), so windowed aggregates are exercised as in the runtime. ``time`` advances by
``every`` (default 1 minute) per event unless an event sets its own; ``id`` is generated.
A step without ``fires`` is not checked (priming events). ``fires`` names rules as
``regulation/rule`` or, when unambiguous, ``rule``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError

from ott_runtime.domain.base import StrictModel
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.events import parse_event, to_rule_input
from ott_runtime.domain.merge_patch import merge_patch
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.rules import RuleReplay, compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenantSpec

RULE_TEST_KIND = "RuleTest"
DEFAULT_START = "2026-11-26T10:00:00Z"


class Step(StrictModel):
    event: dict[str, Any] = Field(description="The event, merged over defaults[its type].")
    repeat: int = Field(default=1, ge=1, le=100_000, description="Send it this many times.")
    every: str = Field(default="1m", description="Time between this step's events.")
    fires: list[str] | None = Field(
        default=None, description="Rules expected to fire on each event; [] for none."
    )
    message: str | None = Field(default=None, description="A substring of the first hit.")


class Case(StrictModel):
    name: str = Field(min_length=1, max_length=256)
    steps: list[Step] = Field(min_length=1)


class RuleTestSpec(StrictModel):
    tenant: dict[str, Any] = Field(description="A ComplianceTenant spec: regulations, rules.")
    start: str = DEFAULT_START
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    cases: list[Case] = Field(min_length=1)


class RuleTestMeta(StrictModel):
    name: str = Field(min_length=1, max_length=253)


class RuleTest(StrictModel):
    api_version: str
    kind: str
    metadata: RuleTestMeta
    spec: RuleTestSpec


@dataclass
class CaseResult:
    test: str  # the RuleTest's name
    case: str
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fired: set[str] = field(default_factory=set)  # qualified ids that fired somewhere
    checked_quiet: set[str] = field(default_factory=set)  # expected not to fire, and did not

    @property
    def passed(self) -> bool:
        return not self.failures


def _qualify(names: Sequence[str], rules: Mapping[str, list[str]]) -> tuple[set[str], list[str]]:
    """Qualified ids for ``regulation/rule`` or bare rule names; and what did not resolve."""
    found: set[str] = set()
    problems: list[str] = []
    for name in names:
        if "/" in name:
            if any(name in ids for ids in rules.values()):
                found.add(name)
            else:
                problems.append(f"no rule {name!r} in this tenant's rules")
            continue
        matches = rules.get(name, [])
        if len(matches) == 1:
            found.add(matches[0])
        else:
            problems.append(
                f"rule {name!r} is ambiguous: {', '.join(matches)}"
                if matches
                else f"no rule {name!r} in this tenant's rules"
            )
    return found, problems


def _events(spec: RuleTestSpec, case: Case) -> Iterator[tuple[int, Step, dict[str, Any]]]:
    """(step index, step, event document) in order, times and ids filled in."""
    moment = datetime.fromisoformat(spec.start)
    number = 0
    for index, step in enumerate(case.steps):
        gap = parse_duration(step.every)
        event_type = str(step.event.get("type", ""))
        for _ in range(step.repeat):
            number += 1
            document = merge_patch(
                {"specVersion": "1", "id": f"case-{number}", "time": moment.isoformat()},
                merge_patch(spec.defaults.get(event_type, {}), step.event),
            )
            if "time" in step.event:
                moment = datetime.fromisoformat(str(step.event["time"]))
            yield index, step, document
            moment += gap


def run_case(test: RuleTest, case: Case, replay: RuleReplay) -> CaseResult:
    result = CaseResult(test.metadata.name, case.name)
    compiled = replay.compiled
    started = time.perf_counter()
    by_name: dict[str, list[str]] = {}
    for rule in compiled.resolved.rules:
        by_name.setdefault(rule.id, []).append(rule.qualified_id)
    for index, step, document in _events(test.spec, case):
        where = f"step {index + 1} (event {document['id']})"
        try:
            event = to_rule_input(parse_event(document))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in error.errors()
            )
            result.failures.append(f"{where}: not a valid event: {problems}")
            break
        hits = replay.hits(event)
        fired = {hit.qualified_id for hit in hits}
        result.fired |= fired
        if step.fires is None:
            continue
        expected, unresolved = _qualify(step.fires, by_name)
        if unresolved:
            result.failures.extend(f"{where}: {problem}" for problem in unresolved)
            break
        if fired != expected:
            result.failures.append(
                f"{where}: expected {sorted(expected) or 'no rule'} to fire, "
                f"got {sorted(fired) or 'none'}"
            )
            break
        applicable = {rule.qualified_id for rule in compiled.rules_for(event["type"])}
        result.checked_quiet |= applicable - fired
        if step.message is not None and hits and step.message not in hits[0].message:
            result.failures.append(
                f"{where}: message {hits[0].message!r} does not contain {step.message!r}"
            )
            break
    result.seconds = time.perf_counter() - started
    return result


def run_test(test: RuleTest, sets: Mapping[str, RegulationSet]) -> list[CaseResult]:
    """Every case of ``test`` (each with fresh windows); a tenant whose rules do not
    resolve or compile fails every case with that error."""
    try:
        tenant = ComplianceTenantSpec.model_validate(
            {"displayName": test.metadata.name, **test.spec.tenant}
        )
        resolved = resolve_rules(tenant, sets)
        compiled = compile_rules(resolved)
    except (ValueError, ValidationError) as error:
        return [
            CaseResult(test.metadata.name, c.name, [f"tenant: {error}"]) for c in test.spec.cases
        ]
    return [run_case(test, case, RuleReplay(compiled)) for case in test.spec.cases]


def uncovered(
    results: Sequence[CaseResult], sets: Mapping[str, RegulationSet], tested: set[str]
) -> list[str]:
    """Rules of the ``tested`` sets without a case where they fire and one where they were
    expected not to and did not."""
    fired = set().union(*(r.fired for r in results if r.passed)) if results else set()
    quiet = set().union(*(r.checked_quiet for r in results if r.passed)) if results else set()
    missing: list[str] = []
    for name in sorted(tested):
        for rule in sets[name].spec.rules:
            qualified = f"{name}/{rule.id}"
            lacks = [w for w, s in (("firing", fired), ("non-firing", quiet)) if qualified not in s]
            if lacks:
                missing.append(f"{qualified}: no {' and no '.join(lacks)} case")
    return missing
