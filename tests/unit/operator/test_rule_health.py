"""RulesHealthy: rules that errored or never applied, from the runtime's counters, in the
tenant's status, with an Event when the verdict changes (a fake Kube, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from ott_operator import rule_health
from ott_operator.rule_health import refresh_rules_healthy, rules_healthy
from ott_operator.settings import OperatorSettings
from ott_operator.usage import RuntimeUnavailable

from .conftest import COMPLIANCE_API, tenant_document
from .fake_kube import FakeKube


def health(rule: str, evaluated: int, not_applied: int = 0, errors: int = 0) -> dict[str, Any]:
    return {"rule": rule, "regulation": rule.split("/")[0], "evaluated": evaluated, "hits": 0,
            "notApplied": not_applied, "errors": errors, "lastError": "TypeError: no" if errors
            else None, "lastMissingKey": "viewer" if not_applied else None}  # fmt: skip


def test_rules_that_apply_are_healthy() -> None:
    condition = rules_healthy([health("gdpr/a", 500, not_applied=20), health("gdpr/b", 3, 3)])
    assert (condition.status, condition.reason) == (True, "RulesApply")  # b: too few to say


def test_a_rule_that_never_applied_is_named_with_the_missing_key() -> None:
    condition = rules_healthy([health("gdpr/a", 500), health("gdpr/kids", 150, not_applied=150)])
    assert (condition.status, condition.reason) == (False, "RulesNeverApplied")
    assert condition.message == "gdpr/kids never applied in 150 evaluations (missing: viewer)"


def test_errors_come_first_and_long_lists_are_counted() -> None:
    entries = [health(f"s/never-{i}", 200, not_applied=200) for i in range(12)]
    condition = rules_healthy([*entries, health("s/broken", 10, errors=4)])
    assert condition.reason == "RulesErrored"
    assert condition.message.startswith("s/broken errored 4 times (last: TypeError: no); ")
    assert condition.message.endswith("; and 3 more")


@pytest.fixture
def kube() -> FakeKube:
    fake = FakeKube()
    fake.create(tenant_document("acme"))
    return fake


def answer(monkeypatch: pytest.MonkeyPatch, document: dict[str, Any] | Exception) -> list[str]:
    asked: list[str] = []

    def runtime_document(kube: Any, settings: Any, body: Any, path: str) -> dict[str, Any]:
        asked.append(path)
        if isinstance(document, Exception):
            raise document
        return document

    monkeypatch.setattr(rule_health, "runtime_document", runtime_document)
    return asked


def conditions(kube: FakeKube) -> list[dict[str, Any]]:
    body = kube.get(COMPLIANCE_API, "ComplianceTenant", "acme")
    assert body is not None
    return list((body.get("status") or {}).get("conditions") or [])


def test_the_condition_is_written_and_announced_once_per_change(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = OperatorSettings()
    asked = answer(monkeypatch, {"health": [health("gdpr/kids", 150, not_applied=150)]})
    refresh_rules_healthy(kube, settings, "acme")
    assert asked == ["/v1/regulations"]
    (written,) = conditions(kube)
    assert (written["type"], written["status"]) == ("RulesHealthy", "False")
    assert [(e.reason, e.warning) for e in kube.events] == [("RulesNeverApplied", True)]

    refresh_rules_healthy(kube, settings, "acme")  # the same verdict: no write, no Event
    assert len(kube.status_patches) == 1
    assert len(kube.events) == 1

    answer(monkeypatch, {"health": [health("gdpr/kids", 400, not_applied=150)]})
    refresh_rules_healthy(kube, settings, "acme")
    assert conditions(kube)[0]["status"] == "True"
    assert [(e.reason, e.warning) for e in kube.events][-1] == ("RulesApply", False)


def test_a_runtime_that_does_not_answer_changes_nothing(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer(monkeypatch, RuntimeUnavailable("GET http://acme/v1/regulations: refused"))
    assert refresh_rules_healthy(kube, OperatorSettings(), "acme") is None
    assert conditions(kube) == []
    assert kube.events == []


def test_a_first_healthy_verdict_is_written_without_an_event(
    kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer(monkeypatch, {"health": [health("gdpr/a", 10)]})
    refresh_rules_healthy(kube, OperatorSettings(), "acme")
    assert conditions(kube)[0]["status"] == "True"
    assert kube.events == []
