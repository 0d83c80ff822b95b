"""The operator's Prometheus metrics, in one registry served on ``--metrics-port``.

- ``ottc_operator_reconcile_seconds``: duration of each tenant reconcile, by outcome
  (ok, retry, failed, error: an exception kopf will retry).
- ``ottc_operator_reconcile_errors_total``: reconciles that did not succeed, by reason.
- ``ottc_operator_tenants``: tenants by phase, as last reconciled by this replica.
- ``ottc_operator_key_age_seconds``: age of each tenant's active data key (rotation
  overdue shows as a growing age).
- ``ottc_operator_applied_objects_total``: server-side applies, by kind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ott_runtime.domain.tenant import Phase

RECONCILE_OUTCOMES: Final = ("ok", "retry", "failed", "error")


class _TenantState(Collector):
    """Phases and key ages, kept per tenant and read at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[str, str] = {}
        self._key_created: dict[str, datetime] = {}

    def record(self, tenant: str, phase: Phase | None, key_created: datetime | None) -> None:
        with self._lock:
            if phase is not None:
                self._phases[tenant] = phase.value
            if key_created is not None:
                self._key_created[tenant] = key_created

    def forget(self, tenant: str) -> None:
        with self._lock:
            self._phases.pop(tenant, None)
            self._key_created.pop(tenant, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            phases = list(self._phases.values())
            created = dict(self._key_created)
        by_phase = GaugeMetricFamily(
            "ottc_operator_tenants", "Tenants by phase (this replica's view)", labels=["phase"]
        )
        for value in sorted({p.value for p in Phase} | set(phases)):
            by_phase.add_metric([value], phases.count(value))
        yield by_phase
        age = GaugeMetricFamily(
            "ottc_operator_key_age_seconds",
            "Age of the tenant's active data key",
            labels=["tenant"],
        )
        now = datetime.now(UTC)
        for tenant, moment in sorted(created.items()):
            age.add_metric([tenant], max(0.0, (now - moment).total_seconds()))
        yield age

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconcile_seconds = Histogram(
            "ottc_operator_reconcile_seconds",
            "Duration of one tenant reconcile",
            ["outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "ottc_operator_reconcile_errors",
            "Tenant reconciles that did not succeed",
            ["reason"],
            registry=self.registry,
        )
        self.applied = Counter(
            "ottc_operator_applied_objects",
            "Objects server-side applied",
            ["kind"],
            registry=self.registry,
        )
        self.tenants = _TenantState()
        self.registry.register(self.tenants)

    def observe_reconcile(self, started: float, outcome: str) -> None:
        self.reconcile_seconds.labels(outcome).observe(time.perf_counter() - started)
        if outcome != "ok":
            self.reconcile_errors.labels(outcome).inc()


METRICS: Final = OperatorMetrics()  # the process's; tests build their own
