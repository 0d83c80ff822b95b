"""Schemathesis over our own OpenAPI document and GraphQL schema: whatever it generates,
valid or not, the API answers without a 5xx and as its schema says; every REST error is an
RFC 9457 problem document, every GraphQL error a user error with a code (never an internal
one, never SQL or exception text). Bounded: 12 examples per operation and mode, about 700
requests; OTTC_FUZZ_EXAMPLES=200 makes a long run."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import response_schema_conformance
from schemathesis.core.result import Err, Ok
from schemathesis.graphql import nodes
from schemathesis.schemas import APIOperation, BaseSchema

from .conftest import REGULATION, serve_in_thread

TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "fuzz"},
    "spec": {
        "displayName": "Fuzz",
        "regulations": [{"name": "kids-ads"}],
        "encryption": {"fields": ["viewer.id"]},
        "gateway": {"rateLimit": {"perSecond": 100000}},
    },
}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real uvicorn on loopback in a thread (schemathesis calls it over HTTP)."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with serve_in_thread([REGULATION, TENANT], folder) as (port, api_keys):
        yield f"http://127.0.0.1:{port}", api_keys["fuzz"][0]


FUZZ_EXAMPLES = int(os.environ.get("OTTC_FUZZ_EXAMPLES", "12"))  # per operation and mode
# What must never reach a client: SQL, a Python traceback or exception, a driver's name.
INTERNAL_TEXT = re.compile(
    r"\[SQL: |Traceback \(most recent call last\)|\(sqlalchemy\.|\(builtins\.|asyncpg\.|aiosqlite\."
)


def _operations(schema: BaseSchema) -> list[APIOperation[Any, Any, Any, Any]]:
    """Every operation of the schema; one it cannot load fails the test, naming why."""
    loaded = list(schema.get_all_operations())
    assert not [r.err() for r in loaded if isinstance(r, Err)]
    return [r.ok() for r in loaded if isinstance(r, Ok)]


def _check(case: schemathesis.Case[Any], base: str, api_key: str) -> None:
    response = case.call(base_url=base, headers={"X-API-Key": api_key})
    where = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.200}"
    assert response.status_code < 500, (where, response.text[:500])
    assert not INTERNAL_TEXT.search(response.text), (where, response.text[:500])
    # the body matches the response schema the operation declares for this status
    case.validate_response(response, checks=[response_schema_conformance])
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])  # header name -> values
        assert content_type == ["application/problem+json"], where
        problem = response.json()
        assert problem["status"] == response.status_code, where
        assert problem["title"], where
        assert problem["type"].startswith("urn:ott-compliance:problem:"), where


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_every_error_is_a_problem(
    live_server: tuple[str, str], mode: GenerationMode
) -> None:
    # driven through hypothesis directly: schemathesis' pytest plugin does not support
    # this pytest version
    base, api_key = live_server
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    # GraphQL answers errors the GraphQL way (its own spec), not as problem documents
    operations = [
        operation
        for operation in _operations(schema)
        if not operation.path.startswith("/v1/graphql")
    ]
    assert len(operations) >= 10
    fuzzed = 0
    for operation in operations:

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case[Any]) -> None:
            _check(case, base, api_key)

        try:
            run()
            fuzzed += 1
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, where_of(operation)
    assert fuzzed >= 8


def where_of(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def test_the_fuzzed_server_still_serves(live_server: tuple[str, str]) -> None:
    base, api_key = live_server
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert httpx.get(f"{base}/v1/violations", headers={"X-API-Key": api_key}).status_code == 200


# GraphQL: what an unexpected failure in a resolver is answered with (graphql/errors.py)
INTERNAL_CODES = {"INTERNAL_ERROR", "INTERNAL_SERVER_ERROR"}
NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
    max_leaves=12,
)
# RFC 3339 instants, the edges an outside probe sent among them: their UTC form leaves years
# 1-9999 (used for the OpenAPI's date-time parameters and GraphQL's DateTime alike).
OFFSETS = [dt.UTC, *(dt.timezone(dt.timedelta(minutes=m)) for m in (-840, -330, 330, 840))]
INSTANTS = st.sampled_from(
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z"]
) | st.datetimes(timezones=st.sampled_from(OFFSETS)).map(lambda moment: moment.isoformat())
schemathesis.openapi.format("date-time", INSTANTS)
# Near-valid events reach the pipeline (their time one of those, or no time at all).
EVENTS = st.fixed_dictionaries(
    {
        "specVersion": st.sampled_from(["1", "2"]),
        "id": st.text(min_size=1, max_size=40),
        "type": st.sampled_from(["ad.impression", "playback.start", "nope"]),
        "time": INSTANTS | st.just("soon"),
        "viewer": st.fixed_dictionaries({"id": st.text(max_size=20)}),
    },
    optional={"ad": st.dictionaries(st.sampled_from(["durationSeconds", "targeted"]), JSON_VALUES)},
)


def _literal(value: Any) -> graphql.ValueNode:
    """A Python JSON value as a GraphQL literal (the JSON scalar takes any)."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_literal(item) for item in value])
    fields = [
        graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=_literal(item))
        for key, item in value.items()
    ]
    return nodes.Object(fields)


schemathesis.graphql.scalar("JSON", (EVENTS | JSON_VALUES).map(_literal))
# any RFC 3339 instant, the edges included (their UTC form may leave years 1-9999)
schemathesis.graphql.scalar("DateTime", INSTANTS.map(nodes.String))


def _check_graphql(case: schemathesis.Case[Any], base: str, api_key: str, codes: set[str]) -> None:
    response = case.call(base_url=f"{base}/v1/graphql", headers={"X-API-Key": api_key})
    where = (case.operation.label, case.body)
    assert response.status_code < 500, (where, response.text[:500])
    assert not INTERNAL_TEXT.search(response.text), (where, response.text[:500])
    # a JSON object with data and/or errors; no null where the schema says non-null
    case.validate_response(response, checks=[response_schema_conformance])
    for error in response.json().get("errors") or []:
        code = (error.get("extensions") or {}).get("code", "-")
        assert code not in INTERNAL_CODES, (where, error)
        codes.add(code)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_graphql_fuzz_gives_no_internal_errors_and_keeps_to_the_schema(
    live_server: tuple[str, str], mode: GenerationMode
) -> None:
    base, api_key = live_server
    schema = schemathesis.graphql.from_url(f"{base}/v1/graphql", headers={"X-API-Key": api_key})
    operations = _operations(schema)
    labels = {operation.label for operation in operations}
    assert {"Query.events", "Query.usage", "Query.report", "Mutation.processEvents"} <= labels
    codes: set[str] = set()
    for operation in operations:

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case[Any]) -> None:
            _check_graphql(case, base, api_key, codes)

        run()
    print(f"GraphQL error codes seen ({mode.name}): {sorted(codes)}")


def test_graphql_process_events_with_an_integer_beyond_64_bits_is_bad_input(
    live_server: tuple[str, str],
) -> None:
    """Found by the fuzz above: REST answers this event with a 422 naming the field."""
    base, api_key = live_server
    event = {
        "specVersion": "1",
        "id": "huge-1",
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "ad": {"id": "ad-1", "durationSeconds": 2**70},
    }
    mutation = "mutation P($e: [JSON!]!) { processEvents(events: $e) { accepted } }"
    response = httpx.post(
        f"{base}/v1/graphql",
        content=json.dumps({"query": mutation, "variables": {"e": [event]}}),  # orjson: 64 bits
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] not in INTERNAL_CODES, error
    assert "durationSeconds" in error["message"], error
