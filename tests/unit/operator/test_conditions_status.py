from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ott_operator.conditions import (
    Condition,
    ConditionType,
    merge_conditions,
    summarize_ready,
    timestamp,
    transitions,
)
from ott_operator.status import gateway_condition, keys_status, phase, scoring_condition
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.tenant import Phase

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
RESOLVED = Condition(ConditionType.REGULATIONS_RESOLVED, True, "Resolved", "9 rules")


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    first = merge_conditions([], [RESOLVED], generation=1, now=T0)
    assert first == [
        {
            "type": "RegulationsResolved",
            "status": "True",
            "reason": "Resolved",
            "message": "9 rules",
            "lastTransitionTime": "2026-01-01T12:00:00Z",
            "observedGeneration": 1,
        }
    ]
    same = Condition(ConditionType.REGULATIONS_RESOLVED, True, "Resolved", "10 rules")
    second = merge_conditions(first, [same], generation=2, now=T1)
    assert second[0]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert (second[0]["message"], second[0]["observedGeneration"]) == ("10 rules", 2)
    broken = Condition(ConditionType.REGULATIONS_RESOLVED, False, "MissingRegulationSet", "x")
    third = merge_conditions(second, [broken], generation=2, now=T1)
    assert third[0]["lastTransitionTime"] == "2026-01-01T12:05:00Z"
    assert third[0]["status"] == "False"


def test_other_condition_types_are_kept() -> None:
    existing: list[dict[str, Any]] = [{"type": "KeysReady", "status": "True"}]
    merged = merge_conditions(existing, [RESOLVED], generation=None, now=T0)
    assert [c["type"] for c in merged] == ["KeysReady", "RegulationsResolved"]
    assert "observedGeneration" not in merged[1]


def test_transitions_are_what_changed() -> None:
    existing = merge_conditions([], [RESOLVED], generation=1, now=T0)
    waiting = Condition(ConditionType.SCORING_AVAILABLE, False, "WaitingForPods", "0/1")
    assert transitions(existing, [RESOLVED, waiting]) == [waiting]


def test_ready_sums_up_and_names_what_is_missing() -> None:
    keys = Condition(ConditionType.KEYS_READY, True, "KeyringActive", "v1")
    waiting = Condition(ConditionType.SCORING_AVAILABLE, False, "WaitingForPods", "0/2 available")
    ready = summarize_ready([RESOLVED, keys, waiting])
    assert (ready.status, ready.reason) == (False, "ComponentsNotReady")
    assert ready.message == "ScoringAvailable: 0/2 available"
    assert summarize_ready([RESOLVED, keys]).status is True


def test_phase_never_claims_more_than_is_true() -> None:
    ready = Condition(ConditionType.READY, True, "Ready", "")
    not_ready = Condition(ConditionType.READY, False, "ComponentsNotReady", "")
    missing = Condition(ConditionType.REGULATIONS_RESOLVED, False, "MissingRegulationSet", "")
    assert phase({ConditionType.READY: ready}, suspended=False, failed=False) is Phase.READY
    assert phase({ConditionType.READY: not_ready}, suspended=False, failed=False) is (
        Phase.PROVISIONING
    )
    assert phase({ConditionType.REGULATIONS_RESOLVED: missing}, suspended=False, failed=False) is (
        Phase.DEGRADED
    )
    assert phase({}, suspended=True, failed=False) is Phase.SUSPENDED
    assert phase({ConditionType.READY: ready}, suspended=False, failed=True) is Phase.ERROR


def _deployment(available: int, replicas: int, condition: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "scoring", "namespace": "ottc-acme"},
        "status": {
            "replicas": replicas,
            "availableReplicas": available,
            "conditions": [
                {
                    "type": "Available",
                    "status": condition,
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability.",
                }
            ],
        },
    }


def test_scoring_reflects_the_deployments_own_conditions() -> None:
    waiting = scoring_condition(_deployment(0, 2, "False"), suspended=False)
    assert (waiting.status, waiting.reason) == (False, "WaitingForPods")
    assert waiting.message.startswith("waiting for pods: Deployment ottc-acme/scoring has 0/2")
    assert "MinimumReplicasUnavailable" in waiting.message
    available = scoring_condition(_deployment(2, 2, "True"), suspended=False)
    assert (available.status, available.reason) == (True, "MinimumReplicasAvailable")
    # a True condition with no available replica is not believed
    assert scoring_condition(_deployment(0, 2, "True"), suspended=False).status is False
    assert scoring_condition(None, suspended=False).reason == "DeploymentMissing"
    assert scoring_condition(None, suspended=True).reason == "Suspended"


def test_gateway_is_ready_only_when_the_gateway_took_the_route() -> None:
    ingress: dict[str, Any] = {"kind": "Ingress", "metadata": {"name": "r"}, "status": {}}
    assert gateway_condition(ingress).reason == "WaitingForGateway"
    ingress["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}}
    assert gateway_condition(ingress).status is True
    route: dict[str, Any] = {"kind": "HTTPRoute", "metadata": {"name": "r"}, "status": {}}
    assert gateway_condition(route).status is False
    route["status"] = {
        "parents": [
            {"parentRef": {"name": "kong"}, "conditions": [{"type": "Accepted", "status": "True"}]}
        ]
    }
    assert gateway_condition(route).message == "HTTPRoute r accepted by kong"
    assert gateway_condition(None).reason == "RouteMissing"


def test_keys_status_has_dates_and_versions_but_no_material() -> None:
    ring = KeyRing.generate("acme", now=T0).rotate(now=T1)
    status = keys_status(ring, timedelta(hours=720))
    assert status == {
        "activeVersion": 2,
        "lastRotation": "2026-01-01T12:05:00Z",
        "nextRotation": timestamp(T1 + timedelta(hours=720)),
        "versions": [
            {"version": 1, "state": "decrypt-only", "created": "2026-01-01T12:00:00Z"},
            {"version": 2, "state": "primary", "created": "2026-01-01T12:05:00Z"},
        ],
    }
