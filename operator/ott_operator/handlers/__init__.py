"""Thin kopf handlers, all registered here, into one registry, from the settings.

``register_handlers`` is the only place that knows which handler reacts to what; the
work itself is in ``ott_operator.reconciler`` (tenants) and the pure builders.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ott_operator.handlers import deletion, indexes, regulationset, tenant, used_by
from ott_operator.handlers.context import FINALIZER, KOPF_ANNOTATION_PREFIX, OperatorState, state
from ott_operator.settings import OperatorSettings


def register_handlers(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # the same credentials as the kubernetes client that applies the objects
        info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
        return info

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        # the CRDs' status schemas are strict: kopf keeps its bookkeeping in annotations
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=KOPF_ANNOTATION_PREFIX
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=KOPF_ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        settings.persistence.finalizer = FINALIZER
        # our own Events say what happened; kopf's per-handler chatter stays in the log
        settings.posting.level = logging.WARNING
        settings.execution.max_workers = 8
        # a deleted tenant's timers (sync: a call in flight cannot be cancelled) are checked
        # for exit this often; at kopf's 60 s, a deletion that lands during a drift or usage
        # pass would wait a minute before the finalizer is removed
        settings.background.cancellation_polling = 2
        settings.peering.lifetime = state(memo).settings.peering_lifetime_seconds
        state(memo).connect()

    indexes.register(registry)
    tenant.register(registry, settings)
    regulationset.register(registry)
    used_by.register(registry)
    deletion.register(registry)


def operator_memo(settings: OperatorSettings) -> kopf.Memo:
    return kopf.Memo(state=OperatorState(settings=settings))


__all__ = ["operator_memo", "register_handlers"]
