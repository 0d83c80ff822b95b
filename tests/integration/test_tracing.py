"""Traces of the runtime in a real Jaeger v2: a request with a W3C ``traceparent`` is
continued through ingest (HTTP server span -> ingest -> rules, model, encryption, SQL,
publish), its spans reach Jaeger over OTLP with the right names, parent links and
allow-listed attributes, and the live stream messages carry the same trace."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from ott_runtime.devcluster.jaeger import JaegerServer, JaegerUnavailable, throwaway_jaeger
from ott_runtime.ingest.pubsub import Message
from ott_runtime.telemetry import configure_tracing
from ott_runtime.telemetry.tracing import Tracing

from .conftest import Deployment

PLAINTEXT = {"viewer-7f3a9c", "viewer-7f3a9c@example.com", "198.51.100.77"}


@pytest.fixture(scope="module")
def jaeger() -> Iterator[JaegerServer]:
    try:
        with throwaway_jaeger() as server:
            yield server
    except JaegerUnavailable as error:
        pytest.fail(str(error))


@pytest.fixture(autouse=True)
def tracing(jaeger: JaegerServer) -> Iterator[Tracing]:
    """Tracing to Jaeger, set up before the deployment builds its app and engine."""
    service = f"ottc-it-{uuid.uuid4().hex[:8]}"
    configured = configure_tracing(service, jaeger.otel_env(service), install_global=False)
    assert configured is not None
    yield configured
    configured.shutdown()


def ad(event_id: str, *, kids: bool) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {
            "id": "viewer-7f3a9c",
            "email": "viewer-7f3a9c@example.com",
            "isKidsProfile": kids,
        },
        "device": {"ip": "198.51.100.77"},
        "content": {"id": "show-1", "channelId": "ch-1"},
        "ad": {"id": "ad-1", "durationSeconds": 20, "targeted": kids},
    }


async def wait_for_trace(jaeger: JaegerServer, trace_id: str, names: set[str]) -> dict[str, Any]:
    """The trace once Jaeger holds every span named in ``names`` (export is batched)."""
    deadline = time.monotonic() + 20
    seen: set[str] = set()
    while time.monotonic() < deadline:
        trace = jaeger.trace(trace_id)
        if trace is not None:
            seen = {span["operationName"] for span in trace["spans"]}
            if names <= seen:
                return trace
        await asyncio.sleep(0.2)
    pytest.fail(f"trace {trace_id} lacks {sorted(names - seen)} (has {sorted(seen)})")


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def parent_of(span: dict[str, Any]) -> str | None:
    refs = [r for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
    return refs[0]["spanID"] if refs else None


async def test_ingest_trace_reaches_jaeger_with_parents_and_safe_attributes(
    deployment: Deployment, tracing: Tracing, jaeger: JaegerServer
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    published: list[Message] = []
    remove = deployment.service.broker.add_listener(published.append)
    try:
        response = await deployment.client.post(
            "/v1/events",
            content=orjson.dumps({"events": [ad("t1", kids=True), ad("t2", kids=False)]}),
            headers={
                **deployment.headers("acme"),
                "traceparent": f"00-{trace_id}-{caller_span}-01",
            },
        )
    finally:
        remove()
    assert response.status_code == 200, response.text
    assert tracing.force_flush()

    expected = {
        "POST /v1/events",
        "ottc.ingest",
        "ottc.rules.evaluate",
        "ottc.model.score",
        "ottc.crypto.encrypt",
        "ottc.stream.publish",
        "ottc.cache.api_keys",
    }
    trace = await wait_for_trace(jaeger, trace_id, expected)
    spans = trace["spans"]
    by_name = {span["operationName"]: span for span in spans}
    ids = {span["spanID"]: span for span in spans}

    server = by_name["POST /v1/events"]
    assert parent_of(server) == caller_span, "the caller's traceparent is honoured"
    ingest = by_name["ottc.ingest"]
    assert parent_of(ingest) == server["spanID"]
    api_keys = by_name["ottc.cache.api_keys"]
    assert parent_of(api_keys) == server["spanID"]
    assert tags(api_keys)["ottc.cache.hit"] is False, "the first request of a fresh app"
    for step in (
        "ottc.rules.evaluate",
        "ottc.model.score",
        "ottc.crypto.encrypt",
        "ottc.stream.publish",
    ):
        assert parent_of(by_name[step]) == ingest["spanID"], step

    def descends_from(span: dict[str, Any], ancestor_id: str) -> bool:
        parent = parent_of(span)
        while parent is not None and parent != ancestor_id:
            parent = parent_of(ids[parent]) if parent in ids else None
        return parent == ancestor_id

    sql = [s for s in spans if "db.system" in tags(s) or "db.system.name" in tags(s)]
    assert sql, "SQLAlchemy statements are traced"
    assert all(descends_from(s, server["spanID"]) for s in sql)  # the API key lookup too
    writes = [s for s in sql if s["operationName"].startswith("INSERT")]
    assert writes, [s["operationName"] for s in sql]
    assert all(descends_from(s, ingest["spanID"]) for s in writes)

    assert tags(ingest)["ottc.tenant"] == "acme"
    assert tags(ingest)["ottc.event.count"] == 2
    assert "no-targeted-ads-to-kids" in str(
        tags(by_name["ottc.rules.evaluate"])["ottc.rule.ids_hit"]
    )
    assert tags(by_name["ottc.crypto.encrypt"])["ottc.key.id"]
    assert tags(by_name["ottc.model.score"])["ottc.event.count"] == 2

    exported_text = orjson.dumps(trace).decode()
    api_key = deployment.keys["acme"]
    leaked = [s for s in (*PLAINTEXT, api_key) if s in exported_text]
    assert not leaked, f"personal data or keys in the exported trace: {leaked}"

    # live stream messages carry the trace, so a client can correlate
    assert published
    for message in published:
        assert message.payload["traceparent"].split("-")[1] == trace_id


async def test_a_request_without_traceparent_starts_its_own_trace(
    deployment: Deployment, tracing: Tracing, jaeger: JaegerServer
) -> None:
    response = await deployment.client.get("/v1/violations", headers=deployment.headers("globex"))
    assert response.status_code == 200, response.text
    assert tracing.force_flush()
    service = tracing.settings.service_name
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        traces = jaeger.traces(service, params={"operation": "GET /v1/violations"})
        if traces:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail("no trace for GET /v1/violations")
    (trace,) = traces
    roots = [s for s in trace["spans"] if parent_of(s) is None]
    assert [r["operationName"] for r in roots] == ["GET /v1/violations"]
    assert trace["processes"][roots[0]["processID"]]["serviceName"] == service


async def test_a_search_by_a_sealed_value_leaves_the_value_out_of_the_trace(
    deployment: Deployment, tracing: Tracing, jaeger: JaegerServer
) -> None:
    """The instrumentation writes the whole URL into the server span; a blind-index
    search carries an encrypted field's plaintext there, and a key may ride in a query."""
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    api_key = deployment.keys["acme"]
    response = await deployment.client.get(
        "/v1/events",
        params={"field": "viewer.id", "value": "viewer-7f3a9c", "api_key": api_key},
        headers={**deployment.headers("acme"), "traceparent": f"00-{trace_id}-{caller_span}-01"},
    )
    assert response.status_code < 500, response.text
    assert tracing.force_flush()

    trace = await wait_for_trace(jaeger, trace_id, {"GET /v1/events"})
    server = next(s for s in trace["spans"] if s["operationName"] == "GET /v1/events")
    url_tags = {
        k: v
        for k, v in tags(server).items()
        if k in {"http.url", "url.full", "http.target", "url.query"}
    }
    assert url_tags, tags(server)
    assert any("field=…" in str(v) and "value=…" in str(v) for v in url_tags.values()), url_tags
    exported_text = orjson.dumps(trace).decode()
    leaked = [s for s in ("viewer-7f3a9c", api_key) if s in exported_text]
    assert not leaked, f"a query value reached the exported trace: {leaked}"
