"""FastAPI and SQLAlchemy instrumentation bound to the configured tracer provider.

Both are no-ops while tracing is not configured, so the runtime pays nothing for them
by default. The HTTP server spans honour an incoming W3C ``traceparent`` (the ASGI
middleware extracts it), so a caller's trace continues through ingest.
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry.metrics import NoOpMeterProvider

from ott_runtime.telemetry.tracing import active_tracing

# Health probes and scrapes would drown the traces that matter.
EXCLUDED_URLS: Final = "/healthz,/readyz,/metrics"


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
