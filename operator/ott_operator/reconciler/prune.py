"""Delete a tenant's objects of the kinds that come and go (HPA, PDB, routes, mesh policy)
once the spec or the settings no longer want them. Data-bearing kinds are never pruned
(``builders.tenant.PRUNABLE_KINDS``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ott_operator.builders.tenant import PRUNABLE_KINDS
from ott_operator.kube import KubeAPI, Object, ObjectRef
from ott_operator.naming import TenantNames
from ott_operator.reconciler.tenant_status import Event
from ott_runtime.domain.contract import managed_selector

log = logging.getLogger(__name__)


def prune_objects(kube: KubeAPI, names: TenantNames, desired: Iterable[Object]) -> list[Event]:
    wanted = {ObjectRef.of(o) for o in desired}
    selector = managed_selector(names.tenant)
    pruned: list[str] = []
    for api_version, kind in PRUNABLE_KINDS:
        for found in kube.list_labelled(api_version, kind, names.namespace, selector):
            ref = ObjectRef(api_version, kind, found["metadata"]["name"], names.namespace)
            if ref not in wanted:
                kube.delete(api_version, kind, ref.name, ref.namespace)
                pruned.append(str(ref))
    if not pruned:
        return []
    log.info("tenant %s: pruned %s (no longer desired)", names.tenant, ", ".join(pruned))
    return [Event(False, "Pruned", "deleted, no longer desired: " + ", ".join(pruned))]
