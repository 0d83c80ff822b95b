"""The operator's observability at start: OTLP tracing from ``OTEL_*`` (service name
``ottc-operator``), trace ids on its log lines, and the Prometheus metrics endpoint."""

from __future__ import annotations

import logging

import click

from ott_operator.metrics import METRICS
from ott_runtime.telemetry import Tracing, TracingConfigError, configure_tracing
from ott_runtime.telemetry.logs import TraceContextFilter


def start_observability(metrics_port: int | None) -> Tracing | None:
    """Call after ``kopf.configure`` (which installs the log handlers)."""
    try:
        tracing = configure_tracing("ottc-operator")
    except TracingConfigError as error:
        raise click.ClickException(str(error)) from None
    # kopf's JSON formatter writes every extra record attribute: trace_id, span_id, tenant
    for handler in logging.getLogger().handlers:
        handler.addFilter(TraceContextFilter())
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=METRICS.registry)
    return tracing
