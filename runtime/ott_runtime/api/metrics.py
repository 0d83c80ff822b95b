"""Prometheus metrics, one registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
