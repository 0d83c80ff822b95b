"""Observability: OpenTelemetry tracing (OTLP, configured by ``OTEL_*``), structured
JSON logs with trace id and tenant, and the allow-list of span attributes.

Prometheus metric names live with the metrics themselves: the runtime's in
``ott_runtime.api.metrics``, the operator's in ``ott_operator.metrics``.
"""

from ott_runtime.telemetry import attributes
from ott_runtime.telemetry.attributes import UnsafeAttribute, safe_attributes
from ott_runtime.telemetry.instrumentation import instrument_app, instrument_engine
from ott_runtime.telemetry.logs import bound_tenant, configure_logging, current_tenant
from ott_runtime.telemetry.tracing import (
    SpanCounter,
    Tracing,
    TracingConfigError,
    TracingSettings,
    active_tracing,
    attached,
    configure_tracing,
    current_trace_id,
    current_traceparent,
    extract_context,
    set_span_attributes,
    start_span,
    trace_headers,
    tracer,
)

__all__ = [
    "SpanCounter",
    "Tracing",
    "TracingConfigError",
    "TracingSettings",
    "UnsafeAttribute",
    "active_tracing",
    "attached",
    "attributes",
    "bound_tenant",
    "configure_logging",
    "configure_tracing",
    "current_tenant",
    "current_trace_id",
    "current_traceparent",
    "extract_context",
    "instrument_app",
    "instrument_engine",
    "safe_attributes",
    "set_span_attributes",
    "start_span",
    "trace_headers",
    "tracer",
]
