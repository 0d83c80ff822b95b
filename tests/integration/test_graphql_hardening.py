"""GraphQL against hostile input: out-of-range instants are user errors, unexpected failures
reach the client without internal text (and the log with it), deep or huge requests are
refused before parsing, and the regulations query answers."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import orjson
import pytest
from sqlalchemy.exc import OperationalError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ott_runtime.api.graphql.errors import INTERNAL_MESSAGE
from ott_runtime.api.graphql.guards import MAX_FRAGMENTS, MAX_JSON_DEPTH
from ott_runtime.storage.reports import ReportRepository

from .conftest import REGULATION, Deployment
from .test_graphql import SQLITE_ONLY, gql, served  # noqa: F401 (served: a fixture)

OUT_OF_RANGE = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
PROBLEM = "application/problem+json"
GRAPHQL_LOG = "ott_runtime.api.graphql"
FIELDS_WITH_TIMES = (
    "usage(until: $t) { hour }",
    "usage(since: $t) { hour }",
    "report(until: $t) { since }",
    "report(since: $t) { since }",
    "violationHeatmap(until: $t) { hour }",
    "violationNetwork(since: $t) { rule }",
    "events(filter: {since: $t}) { edges { cursor } }",
    "violations(filter: {until: $t}) { edges { cursor } }",
)


def assert_nothing_internal(body: Any) -> None:
    text = json.dumps(body)
    for internal in ("SQL", "Overflow", "Traceback", "sqlalchemy", "builtins"):
        assert internal not in text, text


@pytest.mark.parametrize("time", OUT_OF_RANGE)
@pytest.mark.parametrize("field", FIELDS_WITH_TIMES)
async def test_out_of_range_instants_are_user_errors(
    deployment: Deployment, field: str, time: str
) -> None:
    literal = await gql(deployment, "{ " + field.replace("$t", json.dumps(time)) + " }")
    variable = await gql(deployment, f"query($t: DateTime) {{ {field} }}", t=time)
    for answer in (literal, variable):
        assert answer["data"] is None
        (error,) = answer["errors"]
        assert "out of range" in error["message"]
        assert error["locations"]  # where in the document (the argument or the variable)
        assert_nothing_internal(answer)


async def test_the_issues_reproductions_carry_no_sql(deployment: Deployment) -> None:
    for query in (
        '{ usage(until:"9999-12-31T23:59:59-14:00"){ hour } }',
        '{ report(until:"9999-12-31T23:59:59-14:00"){ since } }',
    ):
        answer = await gql(deployment, query)
        assert "out of range" in answer["errors"][0]["message"]
        assert_nothing_internal(answer)


async def test_ranges_at_the_ends_are_answered(deployment: Deployment) -> None:
    answer = await gql(
        deployment,
        """{ violationHeatmap(since: "9999-12-31T23:30:00Z", until: "9999-12-31T23:59:59Z")
             { hour }
             report(until: "0001-01-01T12:00:00Z") { since until } }""",
    )
    assert "errors" not in answer, answer
    assert answer["data"]["report"]["since"] == "0001-01-01T00:00:00+00:00"


@SQLITE_ONLY
async def test_unexpected_errors_are_masked_for_the_client_and_logged_with_a_traceback(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> dict[str, int]:
        raise OperationalError("SELECT events.type FROM events", {}, OSError("disk I/O error"))

    monkeypatch.setattr(ReportRepository, "event_totals", broken)
    caplog.set_level(logging.INFO)
    answer = await gql(deployment, "{ report { since } tenant { id } }")
    assert answer["data"] is None  # report is non-null: the error nulls the whole answer
    (error,) = answer["errors"]
    assert error == {
        "message": INTERNAL_MESSAGE,
        "locations": [{"line": 1, "column": 3}],
        "path": ["report"],
        "extensions": {"code": "INTERNAL_ERROR"},
    }
    assert_nothing_internal(answer)
    (logged,) = [r for r in caplog.records if r.name == GRAPHQL_LOG]
    assert logged.levelno == logging.ERROR
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], OperationalError)
    assert "report" in logged.getMessage()
    assert not [r for r in caplog.records if r.name.startswith("strawberry")]


@SQLITE_ONLY
async def test_user_errors_are_logged_at_info_without_a_traceback(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    refusals = {
        "{ nope }": "Cannot query field",  # validation
        '{ usage(until: "soon") { hour } }': "RFC 3339",  # bad input
        "{ events(first: 0) { edges { cursor } } }": "BAD_USER_INPUT",  # resolver
        'mutation { acknowledgeViolation(id: "x") { id } }': "NOT_FOUND",
    }
    for query in refusals:
        assert (await gql(deployment, query))["errors"]
    unauthenticated = await deployment.client.post(
        "/v1/graphql", json={"query": "{ tenant { id } }"}, headers={"X-API-Key": "ottc_wrong"}
    )
    assert unauthenticated.status_code in (200, 401)
    logged = [r for r in caplog.records if r.name == GRAPHQL_LOG]
    assert [r.levelno for r in logged] == [logging.INFO] * len(logged)
    assert all(r.exc_info is None for r in logged)
    for expected in refusals.values():
        assert any(expected in r.getMessage() for r in logged), expected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@SQLITE_ONLY
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
async def test_variables_nested_too_deeply_are_a_400_problem(
    deployment: Deployment, depth: int
) -> None:
    body = '{"query": "query($v: JSON) { __typename }", "variables": {"v": ' + nested(depth) + "}}"
    headers = {**deployment.headers("acme"), "content-type": "application/json"}
    posted = await deployment.client.post("/v1/graphql", content=body, headers=headers)
    variables = '{"v": ' + nested(min(depth, 1000)) + "}"  # a URL has a length limit
    via_get = await deployment.client.get(
        "/v1/graphql",
        params={"query": "{ __typename }", "variables": variables},
        headers={**deployment.headers("acme"), "accept": "application/json"},
    )
    for response in (posted, via_get):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("json-too-deep")


@SQLITE_ONLY
async def test_variables_nested_within_the_limit_are_answered(deployment: Deployment) -> None:
    value: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH - 4):  # {body {variables {events [value]}}}: 32 levels
        value = {"a": [value]} if isinstance(value, str) else [value]
    answer = await gql(
        deployment,
        "mutation($events: [JSON!]!) { processEvents(events: $events) { accepted } }",
        events=[value],
    )
    (error,) = answer["errors"]  # decoded and handed to the pipeline, which refuses it
    assert error["extensions"]["code"] == "INVALID_EVENTS"


def chained_fragments(count: int, name: str = "F") -> str:
    spreads = " ".join(f"fragment {name}{i} on Query {{ ...{name}{i + 1} }}" for i in range(count))
    return f"query {{ ...{name}0 }} {spreads} fragment {name}{count} on Query {{ __typename }}"


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (chained_fragments(2000), "characters"),  # the issue's reproduction
        (chained_fragments(MAX_FRAGMENTS + 1, "f"), "fragments"),
        ("{" + " tenant { id " * 1 + "a { " * 100 + "}" * 101, "nests deeper"),
    ],
)
async def test_huge_documents_are_a_400_problem_before_parsing(
    deployment: Deployment, query: str, reason: str
) -> None:
    response = await deployment.client.post(
        "/v1/graphql", json={"query": query}, headers=deployment.headers("acme")
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith("graphql-document-too-large")
    assert reason in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["query"]


@SQLITE_ONLY
async def test_documents_at_the_limits_are_answered(deployment: Deployment) -> None:
    answer = await gql(deployment, chained_fragments(MAX_FRAGMENTS - 1, "f"))
    assert answer == {"data": {"__typename": "Query"}}


async def test_regulations_with_every_field(deployment: Deployment) -> None:
    answer = await gql(
        deployment,
        """{ regulations { name rules {
             id qualifiedId regulation severity appliesTo when message reference description
           } } }""",
    )
    assert "errors" not in answer, answer
    spec = REGULATION["spec"]
    assert isinstance(spec, dict)
    assert answer["data"]["regulations"] == [
        {
            "name": "kids-ads",
            "rules": [
                {
                    "id": rule["id"],
                    "qualifiedId": f"kids-ads/{rule['id']}",
                    "regulation": "kids-ads",
                    "severity": rule["severity"].upper(),
                    "appliesTo": rule["appliesTo"],
                    "when": rule["when"],
                    "message": rule["message"],
                    "reference": rule["reference"],
                    "description": None,
                }
                for rule in spec["rules"]
            ],
        }
    ]


@SQLITE_ONLY
async def test_the_socket_refuses_huge_documents_and_deep_messages(
    deployment: Deployment,
    served: str,  # noqa: F811 (the fixture)
) -> None:
    init = {"type": "connection_init", "payload": {"apiKey": deployment.keys["acme"]}}
    subscription = "subscription { ...S0 } " + " ".join(
        f"fragment S{i} on Subscription {{ ...S{i + 1} }}" for i in range(2000)
    )
    async with connect(
        f"ws://{served}/v1/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_size=None,
    ) as socket:
        await socket.send(orjson.dumps(init).decode())
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        message = {"id": "1", "type": "subscribe", "payload": {"query": subscription}}
        await socket.send(orjson.dumps(message).decode())
        refused = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"] == {"code": "DOCUMENT_TOO_LARGE"}
        await socket.send('{"id": "2", "type": "subscribe", "payload": ' + nested(100_000) + "}")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400
