"""ott_runtime.telemetry without a backend: settings from OTEL_*, the attribute
allow-list, spans and their context, and JSON log lines with trace id and tenant."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased

from ott_runtime.telemetry import (
    Tracing,
    TracingConfigError,
    TracingSettings,
    UnsafeAttribute,
    attributes,
    bound_tenant,
    configure_logging,
    configure_tracing,
    current_trace_id,
    current_traceparent,
    extract_context,
    safe_attributes,
    set_span_attributes,
    start_span,
)
from ott_runtime.telemetry.tracing import sampler_from_env


class Exported:
    """Spans the batch processor handed to an in-memory exporter."""

    def __init__(self, tracing: Tracing, exporter: InMemorySpanExporter) -> None:
        self.tracing, self.exporter = tracing, exporter

    def get_finished_spans(self) -> list[ReadableSpan]:
        assert self.tracing.force_flush()
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def exported() -> Iterator[Exported]:
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("ottc-test", {}, exporter=exporter, install_global=False)
    assert tracing is not None
    yield Exported(tracing, exporter)
    tracing.shutdown()


def test_nothing_is_exported_without_an_endpoint_or_exporter() -> None:
    assert configure_tracing("ottc", {}) is None
    assert configure_tracing("ottc", {"OTEL_TRACES_EXPORTER": "none"}) is None
    disabled = {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
    assert configure_tracing("ottc", disabled) is None


def test_settings_follow_the_standard_variables() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "pool-a",
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
    }
    settings = TracingSettings.from_env(env, "ottc-runtime")
    assert (settings.exporter, settings.protocol, settings.service_name) == (
        "otlp",
        "grpc",
        "pool-a",
    )
    assert (settings.max_queue_size, settings.max_export_batch_size) == (100, 10)
    assert settings.endpoint == "http://127.0.0.1:4317"
    http = TracingSettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "x")
    assert http.endpoint == "http://c:4318/v1/traces", "the SDK's rule, from our mapping"
    specific = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/in", **env}
    assert TracingSettings.from_env(specific, "x").endpoint == "http://t:9/in"
    defaults = TracingSettings.from_env({}, "ottc-runtime")
    assert defaults.protocol == "http/protobuf"
    assert defaults.service_name == "ottc-runtime"
    assert defaults.max_queue_size >= 8 * defaults.max_export_batch_size


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "deprecated Jaeger exporter"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "lots"}, "not an integer"),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "10"}, "exceeds"),
    ],
)
def test_bad_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(TracingConfigError, match=message):
        TracingSettings.from_env(env, "ottc")


def test_sampling_is_parent_based_ratio_by_default() -> None:
    sampler = sampler_from_env({"OTEL_TRACES_SAMPLER_ARG": "0.25"})
    assert isinstance(sampler, ParentBased)
    assert "0.25" in sampler.get_description()
    with pytest.raises(TracingConfigError, match=r"within \[0, 1\]"):
        sampler_from_env({"OTEL_TRACES_SAMPLER_ARG": "2"})


def test_the_allow_list_refuses_unknown_names_and_raw_values() -> None:
    assert safe_attributes({attributes.TENANT: "acme", attributes.EVENT_COUNT: 3}) == {
        "ottc.tenant": "acme",
        "ottc.event.count": 3,
    }
    assert safe_attributes({attributes.RULE_IDS_HIT: {"b", "a"}}) == {
        "ottc.rule.ids_hit": ["a", "b"]
    }
    with pytest.raises(UnsafeAttribute, match=r"viewer\.email"):
        safe_attributes({"viewer.email": "someone@example.org"})
    with pytest.raises(UnsafeAttribute, match="bytes"):
        safe_attributes({attributes.KEY_ID: b"\x00" * 32})
    with pytest.raises(UnsafeAttribute, match="dict"):
        safe_attributes({attributes.TENANT: {"nested": "value"}})


def test_spans_nest_carry_attributes_and_mark_errors(exported: Exported) -> None:
    with start_span("ingest", {attributes.TENANT: "acme"}) as parent:
        with start_span("rules.evaluate", {attributes.EVENT_COUNT: 2}) as child:
            set_span_attributes(child, {attributes.RULE_IDS_HIT: ["r1"]})
        with pytest.raises(KeyError), start_span("crypto.encrypt"):
            raise KeyError("secret-looking text")
        trace_id = current_trace_id()
    spans = {s.name: s for s in exported.get_finished_spans()}
    assert set(spans) == {"ingest", "rules.evaluate", "crypto.encrypt"}
    assert format(parent.get_span_context().trace_id, "032x") == trace_id
    assert spans["rules.evaluate"].parent is not None
    assert spans["rules.evaluate"].parent.span_id == spans["ingest"].context.span_id
    assert spans["rules.evaluate"].attributes == {
        "ottc.event.count": 2,
        "ottc.rule.ids_hit": ("r1",),
    }
    failed = spans["crypto.encrypt"]
    assert failed.status.description == "KeyError"
    assert not failed.events, "exception messages may quote data: not recorded"


def test_traceparent_round_trips(exported: Exported) -> None:
    with start_span("publish"):
        traceparent = current_traceparent()
        trace_id = current_trace_id()
    assert traceparent is not None
    assert traceparent.split("-")[1] == trace_id
    with start_span("consume", context=extract_context({"traceparent": traceparent})):
        assert current_trace_id() == trace_id
    consume = next(s for s in exported.get_finished_spans() if s.name == "consume")
    assert consume.parent is not None
    assert consume.parent.is_remote


def test_json_logs_carry_trace_id_and_tenant(exported: Exported) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", "json", stream)
        with bound_tenant("acme"), start_span("ingest"):
            trace_id = current_trace_id()
            logging.getLogger("ott_runtime.test").info("stored %d events", 3)
        logging.getLogger("ott_runtime.test").warning("outside")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "stored 3 events"
    assert (inside["trace_id"], inside["tenant"], inside["level"]) == (trace_id, "acme", "info")
    assert len(inside["span_id"]) == 16
    assert "trace_id" not in outside
    assert "tenant" not in outside


def test_instrumentation_is_skipped_while_tracing_is_off() -> None:
    from fastapi import FastAPI

    from ott_runtime.telemetry import instrument_app, instrument_engine

    app = FastAPI()
    assert instrument_app(app) is False
    assert instrument_engine(object()) is None
    assert app.user_middleware == []
