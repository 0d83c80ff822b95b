"""What to do with a tenant's keyring: keep it, create it, or rotate it (and why).

Pure: the current Secret's data and annotations in, the keyring to apply out. A rotation
adds a primary and keeps every older key decrypt-only (``KeyRing.rotate``); a keyring that
cannot be read is never replaced, because data may still need its keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ott_operator import labels
from ott_operator.status import rotation_due
from ott_runtime.domain.keyring import SECRET_DATA_KEY, KeyRing


class KeyAction(StrEnum):
    UNCHANGED = "unchanged"
    CREATED = "created"
    ROTATED_ON_SCHEDULE = "rotated: rotation interval passed"
    ROTATED_ON_REQUEST = "rotated: requested by annotation"


class UnreadableKeyring(ValueError):
    """The stored keyring is malformed; the message says why without showing it."""


@dataclass(frozen=True)
class KeyPlan:
    keyring: KeyRing
    action: KeyAction
    served_request: str | None

    @property
    def changed(self) -> bool:
        return self.action is not KeyAction.UNCHANGED


def plan_keys(
    tenant: str,
    secret_data: Mapping[str, str],
    secret_annotations: Mapping[str, str],
    *,
    requested: str | None,
    interval: timedelta,
    now: datetime,
) -> KeyPlan:
    """``requested``: the tenant's rotate-keys annotation (a token; a new value asks once)."""
    served = secret_annotations.get(labels.ROTATION_REQUEST)
    if SECRET_DATA_KEY not in secret_data:
        # a request made before the keys existed is served by creating them
        return KeyPlan(KeyRing.generate(tenant, now=now), KeyAction.CREATED, requested or served)
    try:
        ring = KeyRing.from_secret_data(dict(secret_data))
    except (ValueError, KeyError) as exc:
        raise UnreadableKeyring(
            f"the stored keyring cannot be read ({exc}); left as it is"
        ) from None
    if ring.tenant != tenant:
        raise UnreadableKeyring(f"the stored keyring belongs to tenant {ring.tenant!r}")
    if requested and requested != served:
        return KeyPlan(ring.rotate(now=now), KeyAction.ROTATED_ON_REQUEST, requested)
    if rotation_due(ring, interval, now):
        return KeyPlan(ring.rotate(now=now), KeyAction.ROTATED_ON_SCHEDULE, served)
    return KeyPlan(ring, KeyAction.UNCHANGED, served)
