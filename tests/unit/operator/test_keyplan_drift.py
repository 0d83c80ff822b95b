from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ott_operator.drift import drifted_paths, holds
from ott_operator.keyplan import KeyAction, UnreadableKeyring, plan_keys
from ott_runtime.domain.keyring import KeyRing

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_missing_keyring_is_created() -> None:
    plan = plan_keys("acme", {}, {}, requested=None, interval=DAY, now=T0)
    assert plan.action is KeyAction.CREATED
    assert (plan.keyring.tenant, plan.keyring.primary_version) == ("acme", 1)


def test_a_fresh_keyring_is_kept() -> None:
    ring = KeyRing.generate("acme", now=T0)
    plan = plan_keys(
        "acme", ring.to_secret_data(), {}, requested=None, interval=DAY, now=T0 + DAY / 2
    )
    assert plan.action is KeyAction.UNCHANGED
    assert plan.keyring.primary.material == ring.primary.material


def test_rotation_when_the_interval_has_passed_keeps_every_old_key() -> None:
    ring = KeyRing.generate("acme", now=T0)
    plan = plan_keys("acme", ring.to_secret_data(), {}, requested=None, interval=DAY, now=T0 + DAY)
    assert plan.action is KeyAction.ROTATED_ON_SCHEDULE
    assert plan.keyring.primary_version == 2
    assert plan.keyring.key(1).material == ring.primary.material
    assert plan.keyring.last_rotation == T0 + DAY


def test_a_request_token_is_served_once() -> None:
    ring = KeyRing.generate("acme", now=T0)
    plan = plan_keys("acme", ring.to_secret_data(), {}, requested="r1", interval=DAY, now=T0)
    assert (plan.action, plan.served_request) == (KeyAction.ROTATED_ON_REQUEST, "r1")
    served = {"compliance.ott.dev/rotation-request": "r1"}
    again = plan_keys(
        "acme", plan.keyring.to_secret_data(), served, requested="r1", interval=DAY, now=T0
    )
    assert again.action is KeyAction.UNCHANGED
    assert again.served_request == "r1"


def test_an_unreadable_keyring_is_never_replaced() -> None:
    with pytest.raises(UnreadableKeyring, match="left as it is") as caught:
        plan_keys(
            "acme", {"keyring.json": "bm90IGpzb24="}, {}, requested=None, interval=DAY, now=T0
        )
    assert "bm90IGpzb24" not in str(caught.value)
    other = KeyRing.generate("someone-else", now=T0).to_secret_data()
    with pytest.raises(UnreadableKeyring, match="someone-else"):
        plan_keys("acme", other, {}, requested=None, interval=DAY, now=T0)


def test_live_objects_hold_what_was_declared_despite_server_defaults() -> None:
    declared = {"spec": {"ports": [{"port": 80, "name": "http"}], "type": "ClusterIP"}}
    live = {
        "metadata": {"resourceVersion": "7"},
        "spec": {
            "ports": [{"port": 80, "name": "http", "protocol": "TCP"}],
            "type": "ClusterIP",
            "clusterIP": "10.0.0.1",
        },
        "status": {"loadBalancer": {}},
    }
    assert holds(live, declared)
    assert drifted_paths(live, declared) == []


@pytest.mark.parametrize(
    ("live", "path"),
    [
        ({"spec": {"minReplicas": 1, "maxReplicas": 10}}, "spec.minReplicas"),
        ({"spec": {"maxReplicas": 10}}, "spec.minReplicas"),
        ({"spec": {"minReplicas": 2, "maxReplicas": 10, "flag": 1}, "x": []}, None),
    ],
)
def test_drift_is_found_by_path(live: dict[str, object], path: str | None) -> None:
    declared = {"spec": {"minReplicas": 2, "maxReplicas": 10}}
    assert holds(live, declared) is (path is None)
    assert drifted_paths(live, declared) == ([path] if path else [])


def test_lists_must_match_item_by_item_and_booleans_exactly() -> None:
    assert not holds({"a": [1, 2, 3]}, {"a": [1, 2]})
    assert not holds({"a": 1}, {"a": True})
    assert holds({"a": True}, {"a": True})
