"""The operator's metrics registry and the trace id on its (kopf JSON) log lines."""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import UTC, datetime, timedelta

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from ott_operator.metrics import OperatorMetrics
from ott_runtime.domain.tenant import Phase
from ott_runtime.telemetry import configure_tracing, current_trace_id, start_span
from ott_runtime.telemetry.logs import TraceContextFilter


def sample(metrics: OperatorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_reconciles_phases_and_key_age_are_exported() -> None:
    metrics = OperatorMetrics()
    started = time.perf_counter()
    metrics.observe_reconcile(started, "ok")
    metrics.observe_reconcile(started, "retry")
    metrics.tenants.record("a", Phase.READY, datetime.now(UTC) - timedelta(days=2))
    metrics.tenants.record("b", Phase.PROVISIONING, None)
    metrics.tenants.record("b", Phase.READY, None)  # a later reconcile replaces the phase

    assert sample(metrics, "ottc_operator_reconcile_seconds_count", outcome="ok") == 1
    assert sample(metrics, "ottc_operator_reconcile_errors_total", reason="retry") == 1
    assert sample(metrics, "ottc_operator_reconcile_errors_total", reason="ok") is None
    assert sample(metrics, "ottc_operator_tenants", phase="Ready") == 2
    assert sample(metrics, "ottc_operator_tenants", phase="Provisioning") == 0
    age = sample(metrics, "ottc_operator_key_age_seconds", tenant="a")
    assert age is not None
    assert 2 * 86400 <= age < 2 * 86400 + 60
    metrics.tenants.forget("a")
    assert sample(metrics, "ottc_operator_key_age_seconds", tenant="a") is None
    assert b"ottc_operator_tenants" in generate_latest(metrics.registry)


def test_log_lines_inside_a_reconcile_span_carry_its_trace_id() -> None:
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())  # kopf's JSON formatter is one of these
    handler.addFilter(TraceContextFilter())
    logger = logging.getLogger("ott_operator.test")
    logger.addHandler(handler)
    tracing = configure_tracing("op", {}, exporter=InMemorySpanExporter(), install_global=False)
    assert tracing is not None
    try:
        with start_span("ottc.reconcile"):
            trace_id = current_trace_id()
            logger.warning("tenant x: apply failed")
    finally:
        logger.removeHandler(handler)
        tracing.shutdown()
    line = json.loads(stream.getvalue())
    assert line["trace_id"] == trace_id
    assert line["message"] == "tenant x: apply failed"
