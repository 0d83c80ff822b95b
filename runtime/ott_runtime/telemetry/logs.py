"""Structured JSON log lines that carry the trace id and the tenant.

Each line is one JSON object: time, level, logger, message, and, when known, ``trace_id``
and ``span_id`` (of the current OpenTelemetry span, to jump from a log line to its trace
in Jaeger) and ``tenant`` (bound with :func:`bound_tenant` around a tenant's work).
Messages are written by the project's code, which never logs key material, API keys or
event payloads; a test scans the logs of a full run for them. uvicorn's lines (and the
websockets library's, which go through them) quote other people's data: the handler cuts
query strings (a searchable field's value, a key put in the URL), credential headers and
WebSocket message text out of them (:class:`RedactServerLines`), and uvicorn's access
log stays off unless asked for.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from pythonjsonlogger.json import JsonFormatter

from ott_runtime.telemetry.tracing import current_span_id, current_trace_id

LOG_FORMATS: Final = ("json", "text")
ADOPTED_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")
_tenant: ContextVar[str | None] = ContextVar("ottc_log_tenant", default=None)


def current_tenant() -> str | None:
    return _tenant.get()


@contextmanager
def bound_tenant(tenant: str | None) -> Iterator[None]:
    """Log lines written inside carry ``tenant`` (asyncio tasks inherit it)."""
    token = _tenant.set(tenant)
    try:
        yield
    finally:
        _tenant.reset(token)


# LogRecord attributes that are not extra fields of the JSON object
_RESERVED = [
    *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
]


class TraceContextFilter(logging.Filter):
    """Adds trace_id, span_id and tenant to every record (None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id()
            record.span_id = current_span_id()
        if getattr(record, "tenant", None) is None:
            record.tenant = _tenant.get()
        return True


# headers that carry credentials: websockets logs every handshake header at debug level
_SECRET_HEADERS: Final = frozenset({"authorization", "x-api-key", "cookie", "set-cookie"})
_HEADER_LINES: Final = frozenset({"< %s: %s", "> %s: %s"})


def _redacted(arg: object) -> object:
    if isinstance(arg, str):
        # a path uvicorn quotes: the access log's ``GET /v1/events?field=viewer.id&value=…``,
        # a WebSocket's ``/v1/stream?…``: the path alone
        return arg.partition("?")[0] if arg.startswith("/") and "?" in arg else arg
    data = getattr(arg, "data", None)
    opcode = getattr(arg, "opcode", None)
    if isinstance(data, bytes) and opcode is not None:  # a websockets frame: not its text
        return f"{getattr(opcode, 'name', opcode)} [{len(data)} bytes]"
    return arg


class RedactServerLines(logging.Filter):
    """uvicorn's lines (its loggers, which websockets logs through as well) without query
    strings, credential headers or WebSocket message text (an auth frame carries the key,
    a stream frame the tenant's data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("uvicorn") or not isinstance(record.args, tuple):
            return True
        args = record.args
        if record.msg in _HEADER_LINES and str(args[0]).lower() in _SECRET_HEADERS:
            record.args = (args[0], "[redacted]")
        else:
            record.args = tuple(_redacted(arg) for arg in args)
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line; empty trace/tenant fields are left out."""

    def __init__(self) -> None:
        super().__init__(reserved_attrs=[*_RESERVED, "trace_id", "span_id", "tenant"])

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        super().add_fields(log_data, record, message_dict)
        for name in ("trace_id", "span_id", "tenant"):
            value = getattr(record, name, None)
            if value:
                log_data[name] = value


TEXT_FORMAT: Final = (
    "%(asctime)s %(levelname)s %(name)s [trace=%(trace_id)s tenant=%(tenant)s] %(message)s"
)


def log_handler(fmt: str = "json", stream: TextIO | None = None) -> logging.Handler:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RedactServerLines())
    handler.setFormatter(JsonLogFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(
    level: str | int = "INFO",
    fmt: str = "json",
    stream: TextIO | None = None,
    *,
    access_log: bool = False,
) -> logging.Handler:
    """Replace the root logger's handlers with one structured handler; returns it.
    Call it after uvicorn configured its loggers (``uvicorn.Config``) to adopt them too.

    ``access_log``: pass uvicorn's line per request on (it is off otherwise: uvicorn
    writes one whenever its access logger has a handler, its own or an ancestor's)."""
    handler = log_handler(fmt, stream)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn gives its loggers their own plain-text handlers: route them through ours
    for name in ADOPTED_LOGGERS:
        adopted = logging.getLogger(name)
        adopted.handlers.clear()
        adopted.propagate = access_log or name != "uvicorn.access"
    return handler
