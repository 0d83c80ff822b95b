"""ComplianceTenant handlers: reconcile on change, on resume, and on the drift and key
rotation timers (all of them call the same level-triggered reconcile); and a usage timer
that copies the runtime's metered usage into status."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ott_operator.handlers.context import (
    TENANT_RESOURCE,
    RegulationSetIndex,
    set_documents,
    state,
)
from ott_operator.reconciler.tenant import Outcome
from ott_operator.rule_health import refresh_rules_healthy
from ott_operator.settings import OperatorSettings
from ott_operator.usage import refresh_usage

log = logging.getLogger(__name__)


def _raise_for_retry(outcome: Outcome) -> None:
    if outcome.retry_after is not None:
        # kopf retries the handler; a RegulationSet appearing also triggers a reconcile
        raise kopf.TemporaryError(outcome.message, delay=outcome.retry_after)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    # The indexes are typed keyword arguments (kopf's examples/16-indexing); kopf's handler
    # protocols do not list them, hence the ignores on the decorators.
    @kopf.on.resume(*TENANT_RESOURCE, id="tenant", registry=registry)
    @kopf.on.create(*TENANT_RESOURCE, id="tenant", registry=registry)
    @kopf.on.update(*TENANT_RESOURCE, id="tenant", registry=registry)  # type: ignore[arg-type]
    def reconcile_tenant(
        name: str, memo: Any, regulation_sets: RegulationSetIndex, **_: Any
    ) -> None:
        outcome = state(memo).connect().reconcile(name, set_documents(regulation_sets))
        _raise_for_retry(outcome)

    @kopf.timer(  # type: ignore[arg-type]
        *TENANT_RESOURCE,
        id="drift",
        interval=settings.drift_seconds,
        initial_delay=settings.drift_seconds,
        registry=registry,
    )
    def revert_drift(name: str, memo: Any, regulation_sets: RegulationSetIndex, **_: Any) -> None:
        state(memo).connect().reconcile(name, set_documents(regulation_sets), drift_check=True)

    @kopf.timer(  # type: ignore[arg-type]
        *TENANT_RESOURCE,
        id="key-rotation",
        interval=settings.rotation_check_seconds,
        initial_delay=settings.rotation_check_seconds,
        registry=registry,
    )
    def rotate_keys_when_due(
        name: str, memo: Any, regulation_sets: RegulationSetIndex, **_: Any
    ) -> None:
        reconciler = state(memo).connect()
        if reconciler.keys_need_work(name):
            reconciler.reconcile(name, set_documents(regulation_sets))

    @kopf.timer(
        *TENANT_RESOURCE,
        id="usage",
        interval=settings.usage_seconds,
        initial_delay=settings.usage_seconds,
        registry=registry,
    )
    def copy_usage(name: str, memo: Any, **_: Any) -> None:
        operator = state(memo)
        operator.connect()
        assert operator.kube is not None
        refresh_usage(operator.kube, operator.settings, name)
        refresh_rules_healthy(operator.kube, operator.settings, name)
