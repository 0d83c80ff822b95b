"""One reconcile of one tenant: resolve, keys, apply, prune, observe, status.

Level-triggered and idempotent: it reads the tenant fresh, computes every desired object
from scratch and server-side applies them all, so running it twice, after a crash or
from several triggers (spec change, RegulationSet change, drift timer) converges on the
same state. Rules are compiled before anything is applied: a tenant whose rules do not
compile gets a False condition and nothing else changes.

Each step lives in its own module of this package and reports what it found or did
(conditions, status fields, Events) into one ``Observations``; ``tenant_status`` turns those
into the status and the Events, and the status is written under an optimistic lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from ott_operator.builders.context import TenantContext
from ott_operator.builders.gateway import endpoint
from ott_operator.builders.secrets import generate_api_key
from ott_operator.builders.tenant import desired_objects
from ott_operator.conditions import ConditionType
from ott_operator.inputs import parse_tenant
from ott_operator.keyplan import UnreadableKeyring
from ott_operator.kube import TENANTS, ApplyError, KubeAPI, get_custom
from ott_operator.metrics import METRICS
from ott_operator.naming import TenantNames
from ott_operator.reconciler.apply import apply_objects
from ott_operator.reconciler.keys import keys_event, plan_tenant_keys, stored_api_key
from ott_operator.reconciler.observe import observe
from ott_operator.reconciler.prune import prune_objects
from ott_operator.reconciler.resolve import MISSING_SET, resolve
from ott_operator.reconciler.tenant_status import Observations, TenantStatus, tenant_status
from ott_operator.settings import OperatorSettings
from ott_operator.status import keys_condition, keys_status
from ott_operator.status_patch import patch_status
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.tenant import Phase
from ott_runtime.telemetry import attributes as attr
from ott_runtime.telemetry import set_span_attributes, start_span

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What the handler tells kopf: retry later (with why) or done."""

    phase: Phase | None
    retry_after: float | None = None
    message: str = ""


class TenantReconciler:
    def __init__(self, kube: KubeAPI, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock(self, tenant: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(tenant, threading.Lock())

    def forget(self, tenant: str) -> None:
        with self._locks_guard:
            self._locks.pop(tenant, None)

    # -- entry points -----------------------------------------------------------------

    def reconcile(
        self,
        name: str,
        set_documents: Iterable[Mapping[str, Any]],
        *,
        drift_check: bool = False,
        now: datetime | None = None,
    ) -> Outcome:
        started = time.perf_counter()
        span_attributes = {
            attr.K8S_KIND: TENANTS.kind,
            attr.K8S_NAME: name,
            attr.RECONCILE_REASON: "drift" if drift_check else "change",
        }
        # one trace per reconcile: its log lines and Events carry the trace id
        with self.lock(name), start_span("ottc.reconcile", span_attributes) as span:
            try:
                body = get_custom(self.kube, TENANTS, name)
                if body is None or body["metadata"].get("deletionTimestamp"):
                    METRICS.tenants.forget(name)
                    return Outcome(phase=None, message="tenant gone or being deleted")
                outcome = self._pass(
                    body, list(set_documents), drift_check, now or datetime.now(UTC)
                )
            except Exception:
                METRICS.observe_reconcile(started, "error")
                raise
            set_span_attributes(
                span, {attr.RECONCILE_PHASE: outcome.phase.value if outcome.phase else None}
            )
            METRICS.tenants.record(name, outcome.phase, None)
            METRICS.observe_reconcile(
                started,
                "retry"
                if outcome.retry_after is not None
                else "failed"
                if outcome.phase is Phase.ERROR
                else "ok",
            )
            return outcome

    def keys_need_work(self, name: str, now: datetime | None = None) -> bool:
        """Cheap check for the rotation timer: is a rotation due or requested?"""
        body = get_custom(self.kube, TENANTS, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return False
        try:
            tenant = parse_tenant(body)
            names = TenantNames.of(tenant, self.settings)
            return plan_tenant_keys(self.kube, tenant, names, now or datetime.now(UTC)).changed
        except (ValueError, UnreadableKeyring):
            return True  # let the full reconcile report it

    # -- the pass ---------------------------------------------------------------------

    def _pass(
        self,
        body: Mapping[str, Any],
        set_documents: list[Mapping[str, Any]],
        drift: bool,
        now: datetime,
    ) -> Outcome:
        observed = Observations(generation=body["metadata"].get("generation"))
        try:
            tenant = parse_tenant(body)
            names = TenantNames.of(tenant, self.settings)
        except ValueError as exc:
            observed.failed = f"invalid tenant: {exc}"
            return self._finish(body, observed, now)
        observed.suspended = tenant.spec.suspended
        observed.fields["namespace"] = names.namespace

        resolved_condition, resolved = resolve(tenant, set_documents)
        observed.conditions[ConditionType.REGULATIONS_RESOLVED] = resolved_condition
        if resolved is None:
            outcome = self._finish(body, observed, now)
            if resolved_condition.reason == MISSING_SET:
                outcome.retry_after = self.settings.missing_set_retry_seconds
            return outcome

        try:
            key_plan = plan_tenant_keys(self.kube, tenant, names, now)
        except UnreadableKeyring as exc:
            observed.failed = f"Secret {names.namespace}/{names.keys_secret}: {exc}"
            return self._finish(body, observed, now)

        METRICS.tenants.record(tenant.name, None, key_plan.keyring.primary.created)
        ctx = TenantContext(
            tenant=tenant,
            settings=self.settings,
            rules_config=resolved.to_config(),
            keyring=key_plan.keyring,
            api_key=stored_api_key(self.kube, names) or generate_api_key(),
            rotation_request=key_plan.served_request,
        )
        objects = desired_objects(ctx)
        kopf.append_owner_reference(objects, owner=kopf.Body(dict(body)))  # type: ignore[arg-type]
        try:
            observed.events += apply_objects(self.kube, objects, drift=drift)
            observed.events += prune_objects(self.kube, names, objects)
        except ApplyError as exc:
            observed.failed = str(exc)
            return self._finish(body, observed, now, retry=True)

        if (rotated := keys_event(key_plan)) is not None:
            observed.events.append(rotated)
        interval = parse_duration(tenant.spec.encryption.rotation_interval)
        observed.conditions[ConditionType.KEYS_READY] = keys_condition(key_plan.keyring)
        observed.fields.update(
            endpoint=endpoint(ctx),
            apiKeySecret=f"{names.namespace}/{names.api_key_secret}",
            keys=keys_status(key_plan.keyring, interval),
            regulations=[dict(r) for r in resolved.regulations],
        )
        observed.conditions.update(
            observe(self.kube, self.settings, names, suspended=tenant.spec.suspended)
        )
        return self._finish(body, observed, now)

    def _finish(
        self,
        body: Mapping[str, Any],
        observed: Observations,
        now: datetime,
        *,
        retry: bool = False,
    ) -> Outcome:
        """Write status (only when it changed, under an optimistic lock) and post Events."""
        name = body["metadata"]["name"]
        if observed.failed:
            log.warning("tenant %s: %s", name, observed.failed)
        computed: list[TenantStatus] = []

        def transaction(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
            # computed again from the fresh status after a conflict: transitions and Events
            # are relative to what is really stored
            computed.append(tenant_status(observed, current.get("status"), now=now))
            return computed[-1].status if computed[-1].changed else None

        patch_status(self.kube, TENANTS, name, transaction, read=body)
        result = computed[-1]
        for event in result.events:
            self.kube.post_event(
                body, warning=event.warning, reason=event.reason, message=event.message
            )
        return Outcome(
            phase=result.phase,
            retry_after=self.settings.missing_set_retry_seconds if retry else None,
            message=observed.failed or result.ready.message,
        )
