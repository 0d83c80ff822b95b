"""Prometheus metrics, one registry per app (so tests can build many apps).

``/metrics`` is open by default (a Prometheus scrapes it without credentials), and its
series carry a ``tenant`` label, i.e. every tenant's name and volume. Two settings close
that (:class:`MetricsExposure`): ``OTTC_METRICS_TOKEN`` asks for ``Authorization: Bearer
<token>``, and ``OTTC_METRICS_TENANT_LABEL=false`` sums the series over tenants.
"""

from __future__ import annotations

import hmac
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ott_runtime.ingest.tenants import TenantRegistry
from ott_runtime.telemetry import active_tracing

# the ingest pipeline's stages (IngestResult.timings_ms keys)
INGEST_STAGES = ("rules", "model", "encrypt", "rows", "store", "total")


class SpansEnded(Collector):
    """``ottc_trace_spans_ended_total``: sampled spans handed to the exporter (the
    denominator of the trace capture rate; 0 while tracing is off)."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        tracing = active_tracing()
        yield CounterMetricFamily(
            "ottc_trace_spans_ended",
            "Sampled spans ended and handed to the trace exporter",
            value=tracing.counter.ended if tracing is not None else 0,
        )


TOKEN_ENV = "OTTC_METRICS_TOKEN"
TENANT_LABEL_ENV = "OTTC_METRICS_TENANT_LABEL"
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class MetricsExposure:
    """Who may read ``/metrics`` and whether it names tenants."""

    token: str | None = None  # None: no credentials asked
    tenant_label: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MetricsExposure:
        label = environ.get(TENANT_LABEL_ENV, "true").strip().lower()
        if label not in _BOOLEANS:
            raise ValueError(f"{TENANT_LABEL_ENV}={label!r}: expected true or false")
        return cls(token=environ.get(TOKEN_ENV) or None, tenant_label=_BOOLEANS[label])

    def admits(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value may read the metrics."""
        if self.token is None:
            return True
        scheme, _, presented = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        )


class RuleCounters(Collector):
    """``ottc_rule_{evaluations,hits,not_applied,errors}_total`` per tenant and rule, read
    from each tenant's compiled rules at scrape time (a rule that never applies shows as
    ``not_applied`` growing while ``hits`` stays 0)."""

    FAMILIES = (
        ("evaluations", "Rule conditions evaluated", "evaluated"),
        ("hits", "Rule conditions that held (violations raised)", "hits"),
        (
            "not_applied",
            "Rule evaluations skipped: the event lacked a field it reads",
            "not_applied",
        ),
        ("errors", "Rule evaluations that failed (type mismatch, non-boolean result)", "errors"),
    )

    def __init__(self, tenants: TenantRegistry) -> None:
        self.tenants = tenants

    def collect(self) -> Iterator[CounterMetricFamily]:
        families = {
            attribute: CounterMetricFamily(
                f"ottc_rule_{name}", help_text, labels=["tenant", "regulation", "rule"]
            )
            for name, help_text, attribute in self.FAMILIES
        }
        for runtime in list(self.tenants):
            for health in runtime.rules.health():
                labels = [runtime.name, health.regulation, health.rule]
                for attribute, family in families.items():
                    family.add_metric(labels, getattr(health, attribute))
        yield from families.values()


class WithoutTenant(Collector):
    """A registry's metrics with the ``tenant`` label summed away (``_created``: the
    earliest), so a scrape shows totals and no tenant names."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            if not any("tenant" in sample.labels for sample in family.samples):
                yield family
                continue
            merged = Metric(family.name, family.documentation, family.type, family.unit)
            totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
            created: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
            for sample in family.samples:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "tenant"))
                key = (sample.name, labels)
                if sample.name.endswith("_created"):
                    created[key] = min(created.get(key, sample.value), sample.value)
                else:
                    totals[key] += sample.value
            for (name, labels), value in [*totals.items(), *created.items()]:
                merged.add_sample(name, dict(labels), value)
            yield merged


class Metrics:
    def __init__(self, exposure: MetricsExposure | None = None) -> None:
        self.exposure = exposure or MetricsExposure.from_env(os.environ)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ottc_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ottc_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.events = Counter(
            "ottc_events_ingested", "Events stored", ["tenant"], registry=self.registry
        )
        self.duplicates = Counter(
            "ottc_events_duplicate",
            "Events skipped as already stored",
            ["tenant"],
            registry=self.registry,
        )
        self.violations = Counter(
            "ottc_violations", "Violations raised", ["tenant", "severity"], registry=self.registry
        )
        self.integrity_failures = Counter(
            "ottc_ciphertext_integrity_failures",
            "Encrypted fields that failed verification on read",
            ["tenant"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "ottc_rate_limited",
            "Requests refused by the app rate limit",
            ["tenant"],
            registry=self.registry,
        )
        self.ingest_stage = Histogram(
            "ottc_ingest_stage_seconds",
            "Time of one ingest batch in each pipeline stage",
            ["stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.rule_hits = Counter(
            "ottc_rule_hits",
            "Rule matches (violations raised) by rule",
            ["tenant", "regulation", "rule"],
            registry=self.registry,
        )
        self.model_latency = Histogram(
            "ottc_model_seconds",
            "Risk model inference time per ingest batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.registry.register(SpansEnded())

    def exposition(self) -> bytes:
        """The text a scrape gets, without the tenant label where so configured."""
        source = self.registry if self.exposure.tenant_label else WithoutTenant(self.registry)
        return generate_latest(source)

    def observe_ingest(
        self, tenant: str, timings_ms: dict[str, float], violations: Sequence[Mapping[str, object]]
    ) -> None:
        for stage, milliseconds in timings_ms.items():
            if stage == "model":
                self.model_latency.observe(milliseconds / 1000)
            if stage in INGEST_STAGES:
                self.ingest_stage.labels(stage).observe(milliseconds / 1000)
        for violation in violations:
            self.rule_hits.labels(
                tenant, str(violation["regulation"]), str(violation["ruleId"])
            ).inc()


class ObserveRequests:
    """Counts and times every request by route template (pure ASGI: no per-request task
    or body buffering, unlike ``@app.middleware("http")``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
