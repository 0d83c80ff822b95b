"""``RegulationSet.status.usedBy``: the tenants that reference each set.

Its one writer is ``track_used_by``, a ``kopf.on.event`` handler on ComplianceTenants. Every
change of the list is an event of some tenant (created, its regulations edited, its deletion
begun, gone; kopf also replays every tenant at start-up, which repairs a list gone stale
while no operator ran), and kopf updates the ``tenants_by_regulation`` index before it calls
the handler. The RegulationSet handlers write the rest of a set's status (conditions,
ruleCount) and never usedBy, so no write of one can undo the other's.

The index's copy of each set only tells whether anything may have to change; the write
itself reads the set and patches under an optimistic lock, with the list taken from the index
as it is at that moment (also on a retry). One handler call writes at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from ott_operator.handlers.context import (
    TENANT_RESOURCE,
    RegulationSetIndex,
    TenantsByRegulation,
    set_documents,
    state,
    tenants_using,
)
from ott_operator.kube import REGULATION_SETS, KubeAPI, StatusConflict
from ott_operator.status_patch import patch_status

log = logging.getLogger(__name__)


def refresh_used_by(
    kube: KubeAPI,
    sets: RegulationSetIndex,
    tenants: TenantsByRegulation,
    *,
    leaving: str | None = None,
) -> None:
    """Bring ``status.usedBy`` of every set in step with the index; ``leaving``: a tenant
    being deleted (still in the index until it is gone)."""

    def users(set_name: str) -> list[str]:
        return [t for t in tenants_using(tenants, set_name) if t != leaving]

    for document in set_documents(sets):
        name = document["metadata"]["name"]
        if users(name) == document.get("usedBy"):
            continue

        def transaction(current: Mapping[str, Any], name: str = name) -> Mapping[str, Any] | None:
            used_by = users(name)
            stored = (current.get("status") or {}).get("usedBy")
            return None if stored == used_by else {"usedBy": used_by}

        patch_status(kube, REGULATION_SETS, name, transaction)


def register(registry: kopf.OperatorRegistry) -> None:
    # the indexes as typed keyword arguments: kopf's protocols do not list them
    @kopf.on.event(*TENANT_RESOURCE, id="used-by", registry=registry)  # type: ignore[arg-type]
    def track_used_by(
        name: str,
        body: kopf.Body,
        memo: Any,
        regulation_sets: RegulationSetIndex,
        tenants_by_regulation: TenantsByRegulation,
        **_: Any,
    ) -> None:
        operator = state(memo)
        operator.connect()
        assert operator.kube is not None
        leaving = name if body.meta.get("deletionTimestamp") else None
        with operator.used_by_lock:
            try:
                refresh_used_by(
                    operator.kube, regulation_sets, tenants_by_regulation, leaving=leaving
                )
            except StatusConflict as exc:
                # kopf never retries an event handler; the next tenant event writes it
                log.warning("usedBy not written this time: %s", exc)
