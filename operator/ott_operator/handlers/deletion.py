"""Deleting a tenant: record its final usage (the finalizer), then let garbage collection
remove everything it owned (every object carries an ownerReference to it)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from ott_operator import labels, naming
from ott_operator.conditions import timestamp
from ott_operator.handlers.context import TENANT_RESOURCE, state
from ott_operator.kube import ApplyError
from ott_operator.settings import OperatorSettings
from ott_operator.usage import UsageUnavailable, current_usage

log = logging.getLogger(__name__)


def final_usage_record(
    settings: OperatorSettings,
    name: str,
    uid: str,
    body: kopf.Body,
    usage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ConfigMap outside the tenant (no ownerReference: it must outlive it). ``usage`` is
    the runtime's latest answer; without one, the last copy in status."""
    status = body.get("status") or {}
    record = {
        "tenant": name,
        "uid": uid,
        "plan": (body.get("spec") or {}).get("plan"),
        "deletedAt": timestamp(),
        "currency": settings.currency,
        "usage": dict(usage or status.get("usage") or {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.usage_record(name, uid),
            "namespace": settings.operator_namespace,
            "labels": {**labels.tenant_labels(name, "final-usage")},
        },
        "data": {"usage.json": json.dumps(record, sort_keys=True)},
    }


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.delete(*TENANT_RESOURCE, id="final-usage", registry=registry)
    def record_final_usage(name: str, uid: str, body: kopf.Body, memo: Any, **_: Any) -> None:
        # the sets' usedBy drops the tenant on its own (handlers.used_by)
        operator = state(memo)
        reconciler = operator.connect()
        kube = operator.kube
        assert kube is not None
        with reconciler.lock(name):
            try:  # the latest count, not the last timer's copy
                usage = current_usage(kube, operator.settings, body)
            except (UsageUnavailable, ValueError) as exc:  # ValueError: an unreadable spec
                log.info("tenant %s: final usage from status (%s)", name, exc)
                usage = None
            record = final_usage_record(operator.settings, name, uid, body, usage)
            try:
                kube.apply(record)
            except ApplyError as exc:
                # keep the finalizer until the record is safe: billing data must not be lost
                raise kopf.TemporaryError(f"final usage not recorded yet: {exc}", delay=10) from exc
            kube.post_event(
                body,
                warning=False,
                reason="FinalUsageRecorded",
                message=f"final usage recorded in ConfigMap "
                f"{operator.settings.operator_namespace}/{record['metadata']['name']}; "
                "owned objects are removed by garbage collection",
            )
            reconciler.forget(name)
