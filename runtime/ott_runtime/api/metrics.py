"""Prometheus metrics, one registry per app (so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

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


class Metrics:
    def __init__(self) -> None:
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

    def observe_ingest(
        self, tenant: str, timings_ms: dict[str, float], violations: list[dict[str, object]]
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
