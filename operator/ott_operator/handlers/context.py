"""What every handler shares, carried in kopf's memo instead of module globals."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import kopf

from ott_operator.kube import Kube
from ott_operator.reconciler.tenant import TenantReconciler
from ott_operator.settings import OperatorSettings
from ott_runtime.domain.contract import (
    API_GROUP,
    API_VERSION,
    REGULATION_SET_PLURAL,
    TENANT_PLURAL,
)

TENANT_RESOURCE = (API_GROUP, API_VERSION, TENANT_PLURAL)
SET_RESOURCE = (API_GROUP, API_VERSION, REGULATION_SET_PLURAL)

# The two kopf indexes (``handlers.indexes``), which kopf passes to every handler as keyword
# arguments of these names: set name -> its document, and set name -> the tenants using it.
RegulationSetIndex: TypeAlias = kopf.Index[str, dict[str, Any]]
TenantsByRegulation: TypeAlias = kopf.Index[str, str]

# kopf's own bookkeeping annotations (handler progress, last handled spec)
KOPF_ANNOTATION_PREFIX = f"kopf.{API_GROUP}"
FINALIZER = f"{API_GROUP}/final-usage"


@dataclass
class OperatorState:
    settings: OperatorSettings
    kube: Kube | None = None
    reconciler: TenantReconciler | None = None
    # ``handlers.used_by`` writes one set at a time: handlers of several tenants run at once
    # (kopf's thread pool) and would only make each other's optimistic writes conflict
    used_by_lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self) -> TenantReconciler:
        if self.reconciler is None:
            self.kube = Kube.connect()
            self.reconciler = TenantReconciler(self.kube, self.settings)
        return self.reconciler


def state(memo: Any) -> OperatorState:
    found = memo.state
    assert isinstance(found, OperatorState)
    return found


def set_documents(index: RegulationSetIndex) -> Iterator[Mapping[str, Any]]:
    """Every indexed RegulationSet document (the index is keyed by set name)."""
    # kopf updates indexes on the event loop while sync handlers run in worker threads:
    # iterate over snapshots (one C-level copy each), never over the live containers
    for store in list(index.values()):
        yield from list(store)


def tenants_using(index: TenantsByRegulation, set_name: str) -> list[str]:
    return sorted(set(index.get(set_name, [])))
