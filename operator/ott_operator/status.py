"""Pure pieces of a tenant's status: the phase, the keys summary and the observations of
the Deployment and the route that the conditions report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ott_operator.conditions import Condition, ConditionType, timestamp
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.tenant import Phase


def phase(conditions: Mapping[ConditionType, Condition], *, suspended: bool, failed: bool) -> Phase:
    """Never more than is true: Ready only when Ready is True."""
    if failed:
        return Phase.ERROR
    resolved = conditions.get(ConditionType.REGULATIONS_RESOLVED)
    if resolved is not None and resolved.status is not True:
        return Phase.DEGRADED
    if suspended:
        return Phase.SUSPENDED
    ready = conditions.get(ConditionType.READY)
    if ready is not None and ready.status is True:
        return Phase.READY
    return Phase.PROVISIONING


def next_rotation(keyring: KeyRing, interval: timedelta) -> datetime | None:
    return keyring.last_rotation + interval if keyring.last_rotation else None


def rotation_due(keyring: KeyRing, interval: timedelta, now: datetime) -> bool:
    due = next_rotation(keyring, interval)
    return due is None or now >= due


def keys_status(keyring: KeyRing, interval: timedelta) -> dict[str, Any]:
    """``status.keys``: versions and dates, never material."""
    upcoming = next_rotation(keyring, interval)
    return {
        "activeVersion": keyring.primary_version,
        "lastRotation": timestamp(keyring.last_rotation) if keyring.last_rotation else None,
        "nextRotation": timestamp(upcoming) if upcoming else None,
        "versions": [
            {
                "version": key.version,
                "state": keyring.state(key.version).value,
                "created": timestamp(key.created),
            }
            for key in keyring.keys
        ],
    }


def keys_condition(keyring: KeyRing) -> Condition:
    kept = len(keyring.keys) - 1
    return Condition(
        ConditionType.KEYS_READY,
        True,
        "KeyringActive",
        f"active key version {keyring.primary_version}; {kept} older version(s) kept "
        "for decryption",
    )


def _find(conditions: Sequence[Mapping[str, Any]] | None, kind: str) -> Mapping[str, Any]:
    return next((c for c in conditions or () if c.get("type") == kind), {})


def scoring_condition(deployment: Mapping[str, Any] | None, *, suspended: bool) -> Condition:
    """From the Deployment's own status and conditions; with no kubelet its pods never run,
    and this says so instead of pretending."""
    kind = ConditionType.SCORING_AVAILABLE
    if suspended:
        return Condition(kind, False, "Suspended", "the tenant is suspended: scoring scaled to 0")
    if deployment is None:
        return Condition(kind, False, "DeploymentMissing", "the scoring Deployment does not exist")
    status = deployment.get("status") or {}
    name = deployment["metadata"]["name"]
    namespace = deployment["metadata"].get("namespace", "")
    available = int(status.get("availableReplicas") or 0)
    wanted = int(status.get("replicas") or deployment.get("spec", {}).get("replicas") or 0)
    own = _find(status.get("conditions"), "Available")
    if own.get("status") == "True" and available > 0:
        return Condition(
            kind,
            True,
            "MinimumReplicasAvailable",
            f"Deployment {namespace}/{name}: {available}/{wanted} replicas available",
        )
    detail = f" ({own['reason']}: {own.get('message', '')})" if own.get("reason") else ""
    return Condition(
        kind,
        False,
        "WaitingForPods",
        f"waiting for pods: Deployment {namespace}/{name} has {available}/{wanted} replicas "
        f"available{detail}",
    )


def gateway_condition(route: Mapping[str, Any] | None) -> Condition:
    """True once the gateway has taken the route: an Ingress with a published address, or an
    HTTPRoute a parent Gateway accepted. Applying the objects alone proves nothing."""
    kind = ConditionType.GATEWAY_READY
    if route is None:
        return Condition(kind, False, "RouteMissing", "the tenant's route does not exist")
    name = route["metadata"]["name"]
    status = route.get("status") or {}
    if route["kind"] == "Ingress":
        addresses = (status.get("loadBalancer") or {}).get("ingress") or []
        if addresses:
            first = addresses[0].get("ip") or addresses[0].get("hostname") or "?"
            return Condition(kind, True, "AddressPublished", f"Ingress {name} served at {first}")
        return Condition(
            kind,
            False,
            "WaitingForGateway",
            f"Ingress {name} applied; the ingress controller has not published an address yet",
        )
    for parent in status.get("parents") or []:
        accepted = _find(parent.get("conditions"), "Accepted")
        if accepted.get("status") == "True":
            gateway = parent.get("parentRef", {}).get("name", "?")
            return Condition(kind, True, "Accepted", f"HTTPRoute {name} accepted by {gateway}")
    return Condition(
        kind,
        False,
        "WaitingForGateway",
        f"HTTPRoute {name} applied; no Gateway has accepted it yet",
    )
