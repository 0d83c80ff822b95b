"""One reconcile of one tenant: resolve, compile, keys, apply, prune, observe, status.

Level-triggered and idempotent: it reads the tenant fresh, computes every desired object
from scratch and server-side applies them all, so running it twice, after a crash or
from several triggers (spec change, RegulationSet change, drift timer) converges on the
same state. Rules are compiled before anything is applied: a tenant whose rules do not
compile gets a False condition and nothing else changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from ott_operator import labels
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.gateway import endpoint
from ott_operator.builders.secrets import generate_api_key
from ott_operator.builders.tenant import PRUNABLE_KINDS, desired_objects
from ott_operator.conditions import (
    TENANT_COMPONENTS,
    Condition,
    ConditionType,
    merge_conditions,
    summarize_ready,
    transitions,
)
from ott_operator.drift import drifted_paths, holds
from ott_operator.inputs import parse_tenant, regulation_sets
from ott_operator.keyplan import KeyAction, KeyPlan, UnreadableKeyring, plan_keys
from ott_operator.kube import ApplyError, Kube, ObjectRef
from ott_operator.metrics import METRICS
from ott_operator.naming import TenantNames
from ott_operator.settings import GatewayMode, OperatorSettings
from ott_operator.status import (
    gateway_condition,
    keys_condition,
    keys_status,
    phase,
    scoring_condition,
)
from ott_runtime.domain.contract import API_KEY_FILE
from ott_runtime.domain.contract import TENANT_PLURAL as TENANTS
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.rules import (
    MissingRegulationSets,
    ResolvedRules,
    RuleCompileError,
    RuleResolutionError,
    compile_rules,
    resolve_rules,
)
from ott_runtime.domain.tenant import ComplianceTenant, Phase
from ott_runtime.telemetry import attributes as attr
from ott_runtime.telemetry import set_span_attributes, start_span

log = logging.getLogger(__name__)

_MUST_HOLD = {ConditionType.REGULATIONS_RESOLVED, ConditionType.KEYS_READY}


@dataclass
class Outcome:
    """What the handler tells kopf: retry later (with why) or done."""

    phase: Phase | None
    retry_after: float | None = None
    message: str = ""


@dataclass
class _Pass:
    """Working state of one reconcile pass."""

    body: Mapping[str, Any]
    generation: int | None
    conditions: dict[ConditionType, Condition] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[bool, str, str]] = field(default_factory=list)
    failed: str | None = None


class TenantReconciler:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
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
            attr.K8S_KIND: "ComplianceTenant",
            attr.K8S_NAME: name,
            attr.RECONCILE_REASON: "drift" if drift_check else "change",
        }
        # one trace per reconcile: its log lines and Events carry the trace id
        with self.lock(name), start_span("ottc.reconcile", span_attributes) as span:
            try:
                body = self.kube.get_cluster_custom(TENANTS, name)
                if body is None or body["metadata"].get("deletionTimestamp"):
                    METRICS.tenants.forget(name)
                    return Outcome(phase=None, message="tenant gone or being deleted")
                outcome = self._reconcile(
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
        body = self.kube.get_cluster_custom(TENANTS, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return False
        try:
            tenant = parse_tenant(body)
            names = TenantNames.of(tenant, self.settings)
            return self._plan_keys(tenant, names, now or datetime.now(UTC)).changed
        except (ValueError, UnreadableKeyring):
            return True  # let the full reconcile report it

    # -- the pass ---------------------------------------------------------------------

    def _reconcile(
        self,
        body: Mapping[str, Any],
        set_documents: list[Mapping[str, Any]],
        drift: bool,
        now: datetime,
    ) -> Outcome:
        work = _Pass(body=body, generation=body["metadata"].get("generation"))
        try:
            tenant = parse_tenant(body)
            names = TenantNames.of(tenant, self.settings)
        except ValueError as exc:
            work.failed = f"invalid tenant: {exc}"
            return self._finish(work, suspended=False)
        work.status.update(namespace=names.namespace)

        resolved = self._resolve(work, tenant, set_documents)
        if resolved is None:
            outcome = self._finish(work, suspended=tenant.spec.suspended)
            missing = work.conditions[ConditionType.REGULATIONS_RESOLVED].reason
            if missing == "MissingRegulationSet":
                outcome.retry_after = self.settings.missing_set_retry_seconds
            return outcome

        try:
            key_plan = self._plan_keys(tenant, names, now)
        except UnreadableKeyring as exc:
            work.failed = f"Secret {names.namespace}/{names.keys_secret}: {exc}"
            return self._finish(work, suspended=tenant.spec.suspended)

        METRICS.tenants.record(tenant.name, None, key_plan.keyring.primary.created)
        ctx = TenantContext(
            tenant=tenant,
            settings=self.settings,
            rules_config=resolved.to_config(),
            keyring=key_plan.keyring,
            api_key=self._api_key(names),
            rotation_request=key_plan.served_request,
        )
        objects = desired_objects(ctx)
        kopf.append_owner_reference(objects, owner=kopf.Body(dict(body)))  # type: ignore[arg-type]
        try:
            self._apply(work, objects, drift)
            self._prune(work, tenant.name, names, objects)
        except ApplyError as exc:
            work.failed = str(exc)
            return self._finish(work, suspended=tenant.spec.suspended, retry=True)

        if key_plan.action is not KeyAction.UNCHANGED:
            work.events.append(
                (
                    False,
                    "KeysCreated" if key_plan.action is KeyAction.CREATED else "KeysRotated",
                    f"keyring {key_plan.action.value}; active key version "
                    f"{key_plan.keyring.primary_version}",
                )
            )
        interval = parse_duration(tenant.spec.encryption.rotation_interval)
        work.conditions[ConditionType.KEYS_READY] = keys_condition(key_plan.keyring)
        work.status.update(
            endpoint=endpoint(ctx),
            apiKeySecret=f"{names.namespace}/{names.api_key_secret}",
            keys=keys_status(key_plan.keyring, interval),
            regulations=[dict(r) for r in resolved.regulations],
        )
        self._observe(work, names, suspended=tenant.spec.suspended)
        return self._finish(work, suspended=tenant.spec.suspended)

    def _resolve(
        self, work: _Pass, tenant: ComplianceTenant, set_documents: list[Mapping[str, Any]]
    ) -> ResolvedRules | None:
        kind = ConditionType.REGULATIONS_RESOLVED
        sets, broken = regulation_sets(set_documents)
        try:
            resolved = resolve_rules(tenant.spec, sets)
            compile_rules(resolved)
        except MissingRegulationSets as exc:
            work.conditions[kind] = Condition(kind, False, "MissingRegulationSet", str(exc))
            return None
        except RuleResolutionError as exc:
            problems = "; ".join([*broken, *exc.problems])
            work.conditions[kind] = Condition(kind, False, "InvalidRegulationReference", problems)
            return None
        except RuleCompileError as exc:
            listed = "; ".join(
                f"rule {e.regulation}/{e.rule_id} at line {e.line}, column {e.column}: {e.message}"
                for e in exc.errors
            )
            work.conditions[kind] = Condition(kind, False, "RuleCompileError", listed)
            return None
        summary = ", ".join(
            f"{r['name']}@{r['version']} ({r['rules']} rules)" for r in resolved.regulations
        )
        work.conditions[kind] = Condition(
            kind, True, "Resolved", f"compiled {len(resolved.rules)} rules: {summary or 'none'}"
        )
        return resolved

    def _plan_keys(self, tenant: ComplianceTenant, names: TenantNames, now: datetime) -> KeyPlan:
        data, annotations = self.kube.secret_data(names.namespace, names.keys_secret)
        return plan_keys(
            tenant.name,
            data,
            annotations,
            requested=tenant.metadata.annotations.get(labels.ROTATE_KEYS),
            interval=parse_duration(tenant.spec.encryption.rotation_interval),
            now=now,
        )

    def _api_key(self, names: TenantNames) -> str:
        import base64

        data, _ = self.kube.secret_data(names.namespace, names.api_key_secret)
        if API_KEY_FILE in data:
            return base64.b64decode(data[API_KEY_FILE]).decode()
        return generate_api_key()

    def _apply(self, work: _Pass, objects: list[Object], drift: bool) -> None:
        """Apply what is missing or changed; on the drift timer, leave alone what still
        holds (a GET is cheaper than an apply, and it tells what drifted)."""
        created: list[str] = []
        changed: list[str] = []
        for obj in objects:
            ref = ObjectRef.of(obj)
            with start_span(
                "ottc.apply",
                {
                    attr.K8S_KIND: ref.kind,
                    attr.K8S_NAME: ref.name,
                    attr.K8S_NAMESPACE: ref.namespace,
                },
            ):
                live = self.kube.get(ref.api_version, ref.kind, ref.name, ref.namespace)
                if live is None:
                    created.append(str(ref))
                elif not holds(live, obj):
                    where = ", ".join(drifted_paths(live, obj)[:3])
                    changed.append(f"{ref} ({where})")
                elif drift:
                    continue
                # on a change, apply all: server-side apply also removes fields no longer
                # declared
                self.kube.apply(obj)
                METRICS.applied.labels(ref.kind).inc()
        if drift and (created or changed):
            work.events.append(
                (
                    True,
                    "DriftReverted",
                    "restored objects changed outside the operator: "
                    + "; ".join([*(f"{c} (deleted)" for c in created), *changed]),
                )
            )
        elif changed or created:
            parts = [f"created {len(created)} objects"] if created else []
            if changed:
                parts.append("updated " + "; ".join(changed))
            work.events.append((False, "Applied", ", ".join(parts)))

    def _prune(self, work: _Pass, tenant: str, names: TenantNames, objects: list[Object]) -> None:
        """Delete owned objects of the kinds that come and go, when no longer desired."""
        wanted = {ObjectRef.of(o) for o in objects}
        selector = labels.managed_selector(tenant)
        pruned: list[str] = []
        for api_version, kind in PRUNABLE_KINDS:
            for found in self.kube.list_labelled(api_version, kind, names.namespace, selector):
                ref = ObjectRef(api_version, kind, found["metadata"]["name"], names.namespace)
                if ref not in wanted:
                    self.kube.delete(api_version, kind, ref.name, ref.namespace)
                    pruned.append(str(ref))
        if pruned:
            log.info("tenant %s: pruned %s (no longer desired)", tenant, ", ".join(pruned))
            work.events.append(
                (False, "Pruned", "deleted, no longer desired: " + ", ".join(pruned))
            )

    def _observe(self, work: _Pass, names: TenantNames, *, suspended: bool) -> None:
        deployment = self.kube.get("apps/v1", "Deployment", names.deployment, names.namespace)
        work.conditions[ConditionType.SCORING_AVAILABLE] = scoring_condition(
            deployment, suspended=suspended
        )
        if self.settings.gateway_mode is GatewayMode.GATEWAY_API:
            route = self.kube.get(
                "gateway.networking.k8s.io/v1", "HTTPRoute", names.route, names.namespace
            )
        else:
            route = self.kube.get("networking.k8s.io/v1", "Ingress", names.route, names.namespace)
        work.conditions[ConditionType.GATEWAY_READY] = gateway_condition(route)

    def _finish(self, work: _Pass, *, suspended: bool, retry: bool = False) -> Outcome:
        """Write status (only when it changed) and post Events for transitions."""
        if work.failed:
            log.warning("tenant %s: %s", work.body["metadata"]["name"], work.failed)
        known = [work.conditions[t] for t in TENANT_COMPONENTS if t in work.conditions]
        existing = (work.body.get("status") or {}).get("conditions") or []
        if work.failed:
            ready = Condition(ConditionType.READY, False, "ReconcileFailed", work.failed)
        else:
            # a component not observed in this pass counts as not ready
            previous = {c.get("type"): c for c in existing}
            components = list(known)
            for kind in TENANT_COMPONENTS:
                if kind not in work.conditions:
                    old = previous.get(kind.value)
                    components.append(
                        Condition(
                            kind, None, "NotEvaluated", "not evaluated: an earlier step failed"
                        )
                        if old is None
                        else Condition(
                            kind, None, str(old.get("reason", "")), str(old.get("message", ""))
                        )
                    )
            ready = summarize_ready(components)
        work.conditions[ConditionType.READY] = ready
        updates = [*known, ready]
        current_phase = phase(work.conditions, suspended=suspended, failed=work.failed is not None)
        status = {
            **work.status,
            "phase": current_phase.value,
            "observedGeneration": work.generation,
            "conditions": merge_conditions(existing, updates, generation=work.generation),
        }
        for condition in transitions(existing, updates):
            if condition.type is ConditionType.READY and condition.status is not True:
                continue  # its components already say why
            # waiting for pods or for the gateway is normal; broken rules or keys are not
            warning = condition.status is not True and condition.type in _MUST_HOLD
            work.events.append((warning, condition.reason, condition.message))
        previous_ready: Mapping[str, Any] = next(
            (c for c in existing if c.get("type") == "Ready"), {}
        )
        if work.failed and previous_ready.get("message") != work.failed:
            work.events.append((True, "ReconcileFailed", work.failed))
        old_status = work.body.get("status") or {}
        if any(old_status.get(k) != v for k, v in status.items()):
            self.kube.patch_status(TENANTS, work.body["metadata"]["name"], status)
        for warning, reason, message in work.events:
            self.kube.post_event(work.body, warning=warning, reason=reason, message=message)
        return Outcome(
            phase=current_phase,
            retry_after=self.settings.missing_set_retry_seconds if retry else None,
            message=work.failed or ready.message,
        )
