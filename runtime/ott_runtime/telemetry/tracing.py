"""OpenTelemetry tracing set up from the standard ``OTEL_*`` environment variables.

Export is OTLP (``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf``, the default, or
``grpc``) to ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``.
Jaeger v2 ingests OTLP natively; the old Jaeger exporter packages are deprecated upstream
and are not used. Without an endpoint (and without ``OTEL_TRACES_EXPORTER``) nothing is
exported and spans cost next to nothing.

Sampling is parent-based ratio (``parentbased_traceidratio``, ratio from
``OTEL_TRACES_SAMPLER_ARG``, default 1.0) unless ``OTEL_TRACES_SAMPLER`` names another
sampler: a caller that sent ``traceparent`` decides for its whole trace.

The batch processor's defaults are sized for the ingest benchmark (1,000 events/s, ~15
spans per 100-event batch, bursts from concurrent clients): a queue of 16,384 spans holds
more than ten seconds of that load while an export is slow, and exports every 500 ms in
batches of up to 2,048. ``OTEL_BSP_*`` override each value.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    Sampler,
    TraceIdRatioBased,
    _get_from_env_or_default,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from ott_runtime import __version__
from ott_runtime.telemetry.attributes import safe_attributes

log = logging.getLogger(__name__)

INSTRUMENTATION_NAME: Final = "ott_runtime"
PROTOCOLS: Final = ("http/protobuf", "grpc")
EXPORTERS: Final = ("otlp", "console", "none")
DEFAULT_MAX_QUEUE_SIZE: Final = 16_384
DEFAULT_SCHEDULE_DELAY_MS: Final = 500
DEFAULT_MAX_EXPORT_BATCH_SIZE: Final = 2_048
DEFAULT_EXPORT_TIMEOUT_MS: Final = 10_000


class TracingConfigError(ValueError):
    """An OTEL_* variable has a value this runtime cannot use."""


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TracingConfigError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise TracingConfigError(f"{name}={raw!r} must be positive")
    return value


@dataclass(frozen=True)
class TracingSettings:
    exporter: str  # otlp | console | none
    protocol: str  # http/protobuf | grpc
    endpoint: str | None  # full URL of the traces endpoint; None: the exporter's default
    service_name: str
    max_queue_size: int
    schedule_delay_ms: int
    max_export_batch_size: int
    export_timeout_ms: int

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_service_name: str) -> TracingSettings:
        has_endpoint = bool(
            env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        )
        exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or (
            "otlp" if has_endpoint else "none"
        )
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            exporter = "none"
        if exporter not in EXPORTERS:
            raise TracingConfigError(
                f"OTEL_TRACES_EXPORTER={exporter!r}: this runtime exports with "
                f"{', '.join(EXPORTERS)} (the deprecated Jaeger exporter is not supported: "
                "Jaeger ingests OTLP)"
            )
        protocol = (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        ).strip()
        if protocol not in PROTOCOLS:
            raise TracingConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: expected one of {', '.join(PROTOCOLS)}"
            )
        settings = cls(
            exporter=exporter,
            protocol=protocol,
            endpoint=_traces_endpoint(env, protocol),
            service_name=env.get("OTEL_SERVICE_NAME") or default_service_name,
            max_queue_size=_int_env(env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE),
            schedule_delay_ms=_int_env(env, "OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS),
            max_export_batch_size=_int_env(
                env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_EXPORT_BATCH_SIZE
            ),
            export_timeout_ms=_int_env(env, "OTEL_BSP_EXPORT_TIMEOUT", DEFAULT_EXPORT_TIMEOUT_MS),
        )
        if settings.max_export_batch_size > settings.max_queue_size:
            raise TracingConfigError(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE exceeds OTEL_BSP_MAX_QUEUE_SIZE"
            )
        return settings


def _traces_endpoint(env: Mapping[str, str], protocol: str) -> str | None:
    """As the OTLP exporters resolve it, but from ``env`` (they read ``os.environ``):
    the signal-specific URL as is, the base URL with ``/v1/traces`` over HTTP."""
    specific = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not base:
        return None
    return base if protocol == "grpc" else base.rstrip("/") + "/v1/traces"


def sampler_from_env(env: Mapping[str, str]) -> Sampler:
    """``OTEL_TRACES_SAMPLER`` when set (the SDK parses it), else parent-based ratio."""
    if env.get("OTEL_TRACES_SAMPLER"):
        return _get_from_env_or_default()
    raw = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip() or "1.0"
    try:
        ratio = float(raw)
    except ValueError:
        raise TracingConfigError(f"OTEL_TRACES_SAMPLER_ARG={raw!r} is not a number") from None
    if not 0.0 <= ratio <= 1.0:
        raise TracingConfigError(f"OTEL_TRACES_SAMPLER_ARG={raw!r} must be within [0, 1]")
    return ParentBased(TraceIdRatioBased(ratio))


class SpanCounter(SpanProcessor):
    """Counts the sampled spans that ended (what the exporter was handed): the
    denominator of the capture rate, and a metric."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ended = 0

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            with self._lock:
                self.ended += 1


def _otlp_exporter(settings: TracingSettings) -> SpanExporter:
    # imported lazily: each exporter pulls in its transport (requests or grpcio)
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        # an http:// endpoint means plaintext gRPC (the exporter's own rule)
        return GrpcExporter(endpoint=settings.endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=settings.endpoint)


@dataclass
class Tracing:
    """A configured tracer provider; :meth:`shutdown` flushes what is queued."""

    provider: TracerProvider
    settings: TracingSettings
    counter: SpanCounter

    def force_flush(self, timeout_ms: int = 30_000) -> bool:
        return self.provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        global _active
        self.provider.force_flush(self.settings.export_timeout_ms * 3)
        self.provider.shutdown()
        if _active is self:
            _active = None


_active: Tracing | None = None
_global_installed = False


def configure_tracing(
    default_service_name: str,
    env: Mapping[str, str] | None = None,
    *,
    exporter: SpanExporter | None = None,
    install_global: bool = True,
) -> Tracing | None:
    """Set up tracing from ``env`` (default ``os.environ``); None when nothing is exported.

    ``exporter`` replaces the OTLP one (tests). The provider becomes the one that
    :func:`tracer` and the instrumentation helpers use; ``install_global`` also makes it
    OpenTelemetry's global provider (possible once per process)."""
    global _active, _global_installed
    env = os.environ if env is None else env
    settings = TracingSettings.from_env(env, default_service_name)
    if exporter is None and settings.exporter == "none":
        return None
    resource = Resource.create({SERVICE_NAME: settings.service_name, SERVICE_VERSION: __version__})
    provider = TracerProvider(resource=resource, sampler=sampler_from_env(env))
    counter = SpanCounter()
    provider.add_span_processor(counter)
    if exporter is None and settings.exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter or _otlp_exporter(settings),
                max_queue_size=settings.max_queue_size,
                schedule_delay_millis=settings.schedule_delay_ms,
                max_export_batch_size=settings.max_export_batch_size,
                export_timeout_millis=settings.export_timeout_ms,
            )
        )
    if install_global and not _global_installed:
        trace.set_tracer_provider(provider)
        _global_installed = True
    _active = Tracing(provider, settings, counter)
    log.info(
        "tracing: %s export (%s) as service %s",
        settings.exporter if exporter is None else type(exporter).__name__,
        settings.protocol,
        settings.service_name,
    )
    return _active


def active_tracing() -> Tracing | None:
    return _active


def tracer() -> Tracer:
    """The project's tracer: the configured provider's, else OpenTelemetry's global one."""
    provider = _active.provider if _active is not None else None
    return trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=provider)


@contextmanager
def start_span(
    name: str,
    attributes: Mapping[str, object] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    context: Context | None = None,
) -> Iterator[Span]:
    """A current span with allow-listed attributes (see telemetry.attributes); an
    exception marks it as an error (type only: messages may quote data)."""
    with tracer().start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=safe_attributes(attributes or {}),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise


def set_span_attributes(span: Span, attributes: Mapping[str, object]) -> None:
    """Results known only at the end of a step (rule ids hit, key id), allow-listed."""
    if span.is_recording():
        span.set_attributes(safe_attributes(attributes))


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits (what Jaeger shows), or None."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def current_span_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.span_id, "016x") if span_context.is_valid else None


def trace_headers() -> dict[str, str]:
    """W3C ``traceparent`` (and ``tracestate``) of the current span, for an outgoing
    request or a stream message; empty when there is no span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def current_traceparent() -> str | None:
    return trace_headers().get("traceparent")


def extract_context(carrier: Mapping[str, str]) -> Context:
    """The context a W3C ``traceparent`` carries (incoming request, message)."""
    return propagate.extract(dict(carrier))


@contextmanager
def attached(ctx: Context) -> Iterator[None]:
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
