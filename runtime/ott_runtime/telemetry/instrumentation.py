"""FastAPI and SQLAlchemy instrumentation bound to the configured tracer provider.

Both are no-ops while tracing is not configured, so the runtime pays nothing for them
by default. The HTTP server spans honour an incoming W3C ``traceparent`` (the ASGI
middleware extracts it), so a caller's trace continues through ingest.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qsl

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import Span

from ott_runtime.telemetry.tracing import active_tracing

# Health probes and scrapes would drown the traces that matter.
EXCLUDED_URLS: Final = "/healthz,/readyz,/metrics"


# The attributes of a server span that carry the request's query string.
_URL_ATTRIBUTES: Final = ("http.url", "url.full")
_TARGET_ATTRIBUTES: Final = ("http.target",)
_QUERY_ATTRIBUTE: Final = "url.query"


def query_names(query_string: bytes | str) -> str:
    """The query string with every value left out (``field=…&value=…``): a query can
    carry an encrypted field's plaintext (a blind-index search) or a key, and traces
    leave the tenant's trust boundary for Jaeger."""
    text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    return "&".join(f"{name}=…" for name, _ in parse_qsl(text, keep_blank_values=True))


def redact_query(span: Span, scope: dict[str, Any]) -> None:
    """A server request hook: the span keeps the names of the query parameters, never
    their values (the instrumentation writes the whole query into three attributes)."""
    query_string = scope.get("query_string") or b""
    if not query_string or not span.is_recording():
        return
    names = query_names(query_string)
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES + _TARGET_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, value.split("?", 1)[0] + (f"?{names}" if names else ""))
    if _QUERY_ATTRIBUTE in attributes:
        span.set_attribute(_QUERY_ATTRIBUTE, names)


def instrument_app(app: Any) -> bool:
    """Server spans for every HTTP request and WebSocket of a FastAPI app; True when done.

    The per-message ASGI ``send``/``receive`` spans are left out: a WebSocket client
    would otherwise add one span per live message."""
    tracing = active_tracing()
    if tracing is None:
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracing.provider,
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
        server_request_hook=redact_query,
    )
    return True


def instrument_engine(engine: Any) -> Any | None:
    """Client spans for every statement of a SQLAlchemy engine (async engines: pass
    the engine; its sync core is instrumented). Returns the tracer object, or None.

    Binds the engine only: SQLAlchemyInstrumentor().instrument() would also patch
    ``create_engine`` process-wide and refuses a second engine."""
    tracing = active_tracing()
    if tracing is None:
        return None
    from opentelemetry import trace
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    sync_engine = getattr(engine, "sync_engine", engine)
    tracer = trace.get_tracer(
        "opentelemetry.instrumentation.sqlalchemy", tracer_provider=tracing.provider
    )
    usage = NoOpMeterProvider().get_meter("ottc").create_up_down_counter("db.client.connections")
    return EngineTracer(tracer, sync_engine, usage)  # type: ignore[no-untyped-call]
