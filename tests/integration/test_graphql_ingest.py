"""GraphQL's processEvents takes the same way in as POST /v1/events (api.batches): the
same ingest metrics, and the same body limit on the batch it hands the pipeline."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from ott_runtime.ingest.limits import MAX_BODY_BYTES

from .conftest import Deployment
from .test_graphql import ad

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PROCESS = "mutation P($events: [JSON!]!) { processEvents(events: $events) { accepted } }"


def _metric(text: str, name: str, tenant: str) -> float:
    found = re.search(rf'^{name}_total\{{tenant="{tenant}"\}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _process(deployment: Deployment, tenant: str, body: bytes) -> dict[str, Any]:
    response = await deployment.client.post(
        "/v1/graphql",
        content=body,
        headers={**deployment.headers(tenant), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@SQLITE_ONLY
async def test_process_events_counts_the_ingest_metrics_as_rest_does(
    deployment: Deployment,
) -> None:
    events = [ad("g1", kids=True), ad("g2")]
    body = orjson.dumps({"query": PROCESS, "variables": {"events": events}})
    first = await _process(deployment, "acme", body)
    assert first["data"]["processEvents"]["accepted"] == 2
    await _process(deployment, "acme", body)  # a retry: both are duplicates
    rest = await deployment.client.post(
        "/v1/events", json=[ad("r1", kids=True), ad("r2")], headers=deployment.headers("globex")
    )
    assert rest.status_code == 200
    metrics = (await deployment.client.get("/metrics")).text
    for tenant in ("acme", "globex"):  # the same counts whichever way the batch came
        assert _metric(metrics, "ottc_events_ingested", tenant) == 2
    assert _metric(metrics, "ottc_events_duplicate", "acme") == 2
    violations = re.findall(
        r'^ottc_violations_total\{severity="\w+",tenant="(\w+)"\}', metrics, re.M
    )
    assert "acme" in violations
    assert violations.count("acme") == violations.count("globex")


@SQLITE_ONLY
async def test_process_events_has_the_body_limit_of_rest(deployment: Deployment) -> None:
    # 1e15 is 4 characters in the request and 18 in the batch it becomes (1000000000000000.0):
    # the request fits the route's limit, the batch does not
    count = MAX_BODY_BYTES // 6
    event = {**ad("big"), "padding": "@"}
    text = orjson.dumps({"query": PROCESS, "variables": {"events": [event]}})
    body = text.replace(b'"@"', b"[" + b",".join([b"1e15"] * count) + b"]")
    assert len(body) <= MAX_BODY_BYTES
    answer = await _process(deployment, "acme", body)
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "INVALID_EVENTS"
    assert error["extensions"]["status"] == 413
    assert str(MAX_BODY_BYTES) in error["message"]
