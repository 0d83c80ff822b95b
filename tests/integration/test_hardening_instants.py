"""Instants at and past the ends of what can be stored, over REST on SQLite and PostgreSQL:
every one a client sends is a 4xx problem naming the field or the parameter, never a 500;
a refused or failed batch never replays the tenant's stored history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ott_runtime.storage.repositories import EventRepository

from .conftest import Deployment

OUT_OF_RANGE = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
PROBLEM = "application/problem+json"


def ad(event_id: str, time: str = "2026-11-26T20:00:00Z", **content: Any) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": time,
        "content": {"id": "show-1", "channelId": "kids-1", **content},
        "ad": {"durationSeconds": 30},
    }


@pytest.fixture
def history_reads(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Each replay of stored history (rebuilding the windows reads it with latest_since)."""
    calls: list[datetime] = []
    original = EventRepository.latest_since

    async def spy(self: EventRepository, since: datetime, limit: int) -> Any:
        calls.append(since)
        return await original(self, since, limit)

    monkeypatch.setattr(EventRepository, "latest_since", spy)
    return calls


def fields(response: Any) -> list[str]:
    assert response.headers["content-type"] == PROBLEM, response.text
    return [problem["field"] for problem in response.json().get("errors", [])]


@pytest.mark.parametrize("time", OUT_OF_RANGE)
async def test_an_event_time_without_a_utc_form_is_a_422_naming_it_and_replays_nothing(
    deployment: Deployment, time: str, history_reads: list[datetime]
) -> None:
    h = deployment.headers("acme")
    refused = await deployment.client.post(
        "/v1/events",
        json={"events": [ad("ok-1"), ad("bad-1", time), ad("bad-2", licence={"windowEnd": time})]},
        headers=h,
    )
    assert refused.status_code == 422, refused.text
    errors = refused.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (1, "time"),
        (2, "content.licence.windowEnd"),
    ]
    assert all("out of range" in e["message"] for e in errors)
    listed = await deployment.client.get("/v1/events", headers=h)
    assert listed.json()["items"] == []  # one bad event refuses the batch whole
    accepted = await deployment.client.post("/v1/events", json={"events": [ad("ok-1")]}, headers=h)
    assert accepted.json()["accepted"] == 1
    assert history_reads == []  # the refusal did not rebuild the windows from storage


async def test_the_first_and_last_storable_instants_are_accepted(deployment: Deployment) -> None:
    h = deployment.headers("acme")
    first, last = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"
    stored = await deployment.client.post(
        "/v1/events", json={"events": [ad("first", first), ad("last", last)]}, headers=h
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["accepted"] == 2
    listed = await deployment.client.get(
        "/v1/events", params={"since": first, "until": last}, headers=h
    )
    assert [item["id"] for item in listed.json()["items"]] == ["first"]  # until: exclusive
    everything = await deployment.client.get("/v1/events", params={"since": first}, headers=h)
    assert {item["id"] for item in everything.json()["items"]} == {"first", "last"}


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/events", {"since": "0001-01-01T00:00:00+14:00"}, 422, "query.since"),
        ("/v1/events", {"until": "9999-12-31T23:59:59-14:00"}, 422, "query.until"),
        ("/v1/events", {"since": "2026-11-26T00:00:00"}, 422, "query.since"),  # no offset
        ("/v1/violations", {"since": "0001-01-01T00:00:00+14:00"}, 422, "query.since"),
        ("/v1/violations", {"until": "9999-12-31T23:59:59-14:00"}, 422, "query.until"),
        ("/v1/analytics", {"until": "0001-01-01T00:00:00Z"}, 400, "query.since"),  # empty
        ("/v1/analytics", {"since": "9999-12-31T23:59:59-14:00"}, 422, "query.since"),
        ("/v1/usage", {"period": "9999-12"}, 400, "query.period"),
        ("/v1/usage", {"period": "2026-13"}, 400, "query.period"),
        ("/v1/reports", {"period": "9999-12"}, 400, "query.period"),
        ("/v1/reports", {"period": "9999-12-31"}, 400, "query.period"),
        ("/v1/reports", {"period": "soon"}, 400, "query.period"),
    ],
)
async def test_query_parameters_out_of_range_are_problems_naming_them(
    deployment: Deployment, path: str, params: dict[str, str], status: int, field: str
) -> None:
    response = await deployment.client.get(path, params=params, headers=deployment.headers("acme"))
    assert response.status_code == status, response.text
    assert field in fields(response)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/analytics", {"since": "9999-12-31T22:30:00Z", "until": "9999-12-31T23:59:59Z"}),
        ("/v1/analytics", {"since": "0001-01-01T00:00:00Z", "until": "0001-01-02T00:00:00Z"}),
        ("/v1/analytics", {"until": "0001-01-01T12:00:00Z"}),  # default since: the first instant
        ("/v1/reports", {"period": "9999-12-30"}),
        ("/v1/reports", {"period": "0001-01"}),
        ("/v1/usage", {"period": "9999-11"}),
        ("/v1/usage", {"period": "0001-01"}),
    ],
)
async def test_ranges_at_the_ends_are_answered(
    deployment: Deployment, path: str, params: dict[str, str]
) -> None:
    response = await deployment.client.get(path, params=params, headers=deployment.headers("acme"))
    assert response.status_code == 200, response.text
