"""The whole REST API over SQLite and PostgreSQL: ingest, reads, reports, tenancy, errors."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from ott_runtime.crypto import ENVELOPE_KEY
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.storage.database import head_revision

from .conftest import TENANTS, Deployment

PROBLEM = "application/problem+json"


def ad(
    event_id: str,
    *,
    seconds: float = 30,
    kids: bool = False,
    targeted: bool = False,
    viewer: str = "viewer-1",
    channel: str = "ch-1",
    content: str = "show-1",
) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {"id": viewer, "email": f"{viewer}@example.com", "isKidsProfile": kids},
        "device": {"ip": "203.0.113.9"},
        "content": {"id": content, "channelId": channel},
        "ad": {"id": "ad-1", "durationSeconds": seconds, "targeted": targeted},
    }


async def post(deployment: Deployment, tenant: str, events: list[dict[str, Any]]) -> Any:
    return await deployment.client.post(
        "/v1/events", content=orjson.dumps({"events": events}), headers=deployment.headers(tenant)
    )


async def test_ingest_runs_rules_encrypts_and_reads_back(deployment: Deployment) -> None:
    batch = [ad("e1", kids=True, targeted=True), ad("e2", seconds=40), ad("e3", seconds=10)]
    response = await post(deployment, "acme", batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 3
    rules = sorted((v["eventId"], v["ruleId"]) for v in body["violations"])
    # e3 pushes the channel's hour over 60 s (30 + 40 > 60 already at e2)
    assert rules == [
        ("e1", "no-targeted-ads-to-kids"),
        ("e2", "ad-time-limit"),
        ("e3", "ad-time-limit"),
    ]

    again = await post(deployment, "acme", batch)  # a client retry
    assert again.json() == {
        "accepted": 0,
        "duplicates": ["e1", "e2", "e3"],
        "violations": [],
        "risk": [],
    }

    listed = (await deployment.client.get("/v1/events", headers=deployment.headers("acme"))).json()
    assert [item["id"] for item in listed["items"]] == ["e1", "e2", "e3"]
    assert listed["items"][0]["event"]["viewer"]["id"] == "viewer-1"  # decrypted for the tenant
    assert listed["items"][0]["maxSeverity"] == "critical"
    assert all(item["integrityErrors"] == [] for item in listed["items"])

    async with deployment.service.database.engine.connect() as connection:
        payloads = [
            r[0] for r in await connection.execute(text("SELECT payload FROM events ORDER BY seq"))
        ]
    stored = [p if isinstance(p, dict) else json.loads(p) for p in payloads]
    for p in stored:  # sealed into the event's envelope, gone from their places
        assert {"viewer.id", "device.ip"} <= set(p[ENVELOPE_KEY]["fields"])
        assert "id" not in p["viewer"]
        assert "ip" not in p["device"]
    assert "viewer-1@example.com" not in json.dumps(stored)
    async with deployment.service.database.engine.connect() as connection:
        messages = [r[0] for r in await connection.execute(text("SELECT message FROM violations"))]
    kids = [m for m in messages if m.startswith("Targeted ad")]
    assert kids == ["Targeted ad shown on a kids profile (viewer [encrypted])"]

    by_viewer = await deployment.client.get(
        "/v1/events",
        params={"field": "viewer.id", "value": "viewer-1"},
        headers=deployment.headers("acme"),
    )
    assert len(by_viewer.json()["items"]) == 3
    for path in ("device.ip", "geo.country"):  # encrypted but not searchable; not encrypted
        refused = await deployment.client.get(
            "/v1/events", params={"field": path, "value": "1"}, headers=deployment.headers("acme")
        )
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert "spec.encryption.searchable" in refused.json()["detail"]
    critical = await deployment.client.get(
        "/v1/events", params={"severity": "critical"}, headers=deployment.headers("acme")
    )
    assert [i["id"] for i in critical.json()["items"]] == ["e1"]


async def test_cursor_pagination_visits_every_event_once(deployment: Deployment) -> None:
    await post(deployment, "acme", [ad(f"p{i:02d}", seconds=1, channel=f"c{i}") for i in range(25)])
    seen, cursor = [], None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (
            await deployment.client.get(
                "/v1/events", params=params, headers=deployment.headers("acme")
            )
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"p{i:02d}" for i in range(25)]
    bad = await deployment.client.get(
        "/v1/events", params={"cursor": "!!"}, headers=deployment.headers("acme")
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == PROBLEM


async def test_tampered_ciphertext_is_reported_not_decrypted(deployment: Deployment) -> None:
    await post(deployment, "acme", [ad("t1", viewer="alice"), ad("t2", viewer="bob")])
    async with deployment.service.database.engine.begin() as connection:
        rows = {
            r[0]: (r[1] if isinstance(r[1], dict) else json.loads(r[1]))
            for r in await connection.execute(text("SELECT event_id, payload FROM events"))
        }
        swapped = rows["t1"]
        swapped[ENVELOPE_KEY] = rows["t2"][ENVELOPE_KEY]  # bob's sealed fields into alice's row
        await connection.execute(
            text("UPDATE events SET payload = :p WHERE event_id = 't1'"), {"p": json.dumps(swapped)}
        )
    items = (await deployment.client.get("/v1/events", headers=deployment.headers("acme"))).json()[
        "items"
    ]
    t1 = next(i for i in items if i["id"] == "t1")
    assert t1["event"]["viewer"]["id"] is None  # neither alice's nor bob's
    failed = {e["field"] for e in t1["integrityErrors"]}
    assert failed == set(rows["t2"][ENVELOPE_KEY]["fields"])
    assert "viewer.id" in failed
    t2 = next(i for i in items if i["id"] == "t2")
    assert t2["event"]["viewer"]["id"] == "bob"
    assert t2["integrityErrors"] == []
    metrics = (await deployment.client.get("/metrics")).text
    assert f'ottc_ciphertext_integrity_failures_total{{tenant="acme"}} {len(failed)}.0' in metrics


async def test_no_endpoint_ever_shows_another_tenants_data(deployment: Deployment) -> None:
    violation_ids = {}
    for tenant in TENANTS:
        events = [
            ad(f"{tenant}-e{i}", seconds=5, kids=True, targeted=True, viewer=f"{tenant}-viewer",
               content=f"{tenant}-show", channel=f"{tenant}-ch")
            for i in range(3)
        ]  # fmt: skip
        response = await post(deployment, tenant, events)
        assert response.status_code == 200
        violation_ids[tenant] = [v["id"] for v in response.json()["violations"]]
    paths = [
        "/v1/events", "/v1/events?severity=low", "/v1/violations", "/v1/reports?period=2026-11",
        "/v1/reports?period=2026-11&format=csv", "/v1/reports?period=2026-11&format=html",
        "/v1/analytics?since=2026-11-26T00:00:00Z&until=2026-11-27T00:00:00Z", "/v1/regulations",
        "/v1/usage", "/v1/keys",
    ]  # fmt: skip
    for tenant in TENANTS:
        others = [t for t in TENANTS if t != tenant]
        for path in paths:
            response = await deployment.client.get(path, headers=deployment.headers(tenant))
            assert response.status_code == 200, (tenant, path, response.text)
            for other in others:
                assert other not in response.text, (tenant, path, other)
                for violation_id in violation_ids[other]:
                    assert violation_id not in response.text
        own = (
            await deployment.client.get("/v1/violations", headers=deployment.headers(tenant))
        ).json()
        assert {v["id"] for v in own["items"]} == set(violation_ids[tenant])
        for other in others:  # another tenant's violation id is simply not found
            stolen = await deployment.client.post(
                f"/v1/violations/{violation_ids[other][0]}/ack", headers=deployment.headers(tenant)
            )
            assert stolen.status_code == 404
            filtered = await deployment.client.get(
                "/v1/events", params={"field": "viewer.id", "value": f"{other}-viewer"},
                headers=deployment.headers(tenant),
            )  # fmt: skip
            assert filtered.json()["items"] == []
    for tenant in TENANTS:  # and nothing was acknowledged by those attempts
        unacked = await deployment.client.get(
            "/v1/violations", params={"acknowledged": "false"}, headers=deployment.headers(tenant)
        )
        assert len(unacked.json()["items"]) == 3


async def test_acknowledging_a_violation(deployment: Deployment) -> None:
    body = (await post(deployment, "globex", [ad("k1", kids=True, targeted=True)])).json()
    violation_id = body["violations"][0]["id"]
    acked = await deployment.client.post(
        f"/v1/violations/{violation_id}/ack", json={"by": "desk", "note": "campaign paused"},
        headers=deployment.headers("globex"),
    )  # fmt: skip
    assert acked.status_code == 200
    assert acked.json()["acknowledged"] is True
    assert acked.json()["acknowledgedBy"] == "desk"
    listed = await deployment.client.get(
        "/v1/violations", params={"acknowledged": "true"}, headers=deployment.headers("globex")
    )
    assert [v["id"] for v in listed.json()["items"]] == [violation_id]


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        (b'{"events": [', 400, None),
        (
            orjson.dumps({"events": [{**ad("b1"), "ad": {"durationSeconds": "long"}}]}),
            422,
            (0, "ad.durationSeconds"),
        ),
        (
            orjson.dumps({"events": [ad("b1"), {**ad("b2"), "type": "ad.clicked"}]}),
            422,
            (1, "type"),
        ),
        (orjson.dumps({"events": [ad("b1"), ad("b1")]}), 422, (1, "id")),
        (orjson.dumps({"events": [ad(f"b{i}") for i in range(1001)]}), 413, (1000, "events")),
        (orjson.dumps({"events": [{**ad("b1"), "pad": "x" * (1024 * 1024)}]}), 413, None),
        (orjson.dumps({"events": "all of them"}), 422, (None, "events")),
    ],
)
async def test_bad_input_gets_a_clear_problem_and_loses_nothing(
    deployment: Deployment, body: bytes, status: int, where: tuple[int | None, str] | None
) -> None:
    assert (await post(deployment, "initech", [ad("kept-1"), ad("kept-2")])).status_code == 200
    response = await deployment.client.post(
        "/v1/events", content=body, headers=deployment.headers("initech")
    )
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    if where is not None:
        assert list(where) in [[e["index"], e["field"]] for e in problem["errors"]]
    listed = (
        await deployment.client.get("/v1/events", headers=deployment.headers("initech"))
    ).json()
    assert [i["id"] for i in listed["items"]] == ["kept-1", "kept-2"]


async def test_authentication_and_rate_limit(deployment: Deployment) -> None:
    for headers in (
        {},
        {"X-API-Key": "ottc_nobody_knows_this_key_at_all"},
        {"Authorization": "Basic x"},
    ):
        response = await deployment.client.get("/v1/events", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
    bearer = await deployment.client.get(
        "/v1/events", headers={"Authorization": f"Bearer {deployment.keys['acme']}"}
    )
    assert bearer.status_code == 200
    runtime = deployment.service.tenants["acme"]
    slow = ComplianceTenantSpec.model_validate(
        {**runtime.spec.to_document(), "gateway": {"rateLimit": {"perSecond": 1}}}
    )
    deployment.service.tenants.replace(dataclasses.replace(runtime, spec=slow))
    statuses = [
        (await deployment.client.get("/v1/keys", headers=deployment.headers("acme")))
        for _ in range(3)
    ]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].headers["content-type"] == PROBLEM
    other = await deployment.client.get("/v1/keys", headers=deployment.headers("globex"))
    assert other.status_code == 200  # one tenant's limit never throttles another


async def test_reports_analytics_usage_keys_and_regulations(deployment: Deployment) -> None:
    await post(
        deployment,
        "acme",
        [
            ad("r1", seconds=5, kids=True, targeted=True),
            ad("r2", seconds=5, kids=True, targeted=True, content="show-2"),
            ad("r3", seconds=5, kids=True, targeted=True),
        ],
    )
    h = deployment.headers("acme")
    report = (
        await deployment.client.get("/v1/reports", params={"period": "2026-11"}, headers=h)
    ).json()
    (kids_rule,) = [r for r in report["rules"] if r["ruleId"] == "no-targeted-ads-to-kids"]
    assert kids_rule["count"] == 3
    assert kids_rule["topContent"][0] == {"contentId": "show-1", "count": 2}
    assert kids_rule["trend"] == [{"day": "2026-11-26T00:00:00Z", "count": 3}]
    assert report["events"] == {"ad.impression": 3}
    csv_report = await deployment.client.get(
        "/v1/reports", params={"period": "2026-11", "format": "csv"}, headers=h
    )
    assert csv_report.headers["content-type"].startswith("text/csv")
    assert "kids-ads,no-targeted-ads-to-kids,critical" in csv_report.text
    html_report = await deployment.client.get(
        "/v1/reports", params={"period": "2026-11-26", "format": "html"}, headers=h
    )
    assert "<table>" in html_report.text
    assert "no-targeted-ads-to-kids" in html_report.text
    bad_period = await deployment.client.get("/v1/reports", params={"period": "soon"}, headers=h)
    assert bad_period.status_code == 400

    day = {"since": "2026-11-26T00:00:00Z", "until": "2026-11-27T00:00:00Z"}
    analytics = (await deployment.client.get("/v1/analytics", params=day, headers=h)).json()
    assert analytics["points"] == [
        {
            "bucket": "2026-11-26T20:00:00Z",
            "events": {"ad.impression": 3},
            "violations": {"critical": 3},
            "risk": None,
        }
    ]

    usage = (await deployment.client.get("/v1/usage", headers=h)).json()
    assert usage["events"] == 3
    assert usage["apiCalls"] >= 5
    again = (await deployment.client.get("/v1/usage", headers=h)).json()
    assert again["apiCalls"] == usage["apiCalls"]  # reading one's usage is not billed
    assert usage["ruleEvaluations"] == 6  # 3 events x 2 rules for ad.impression
    assert usage["estimatedCharge"]["plan"] == "standard"
    assert usage["estimatedCharge"]["items"]["base"] == "99.00"

    keys = (await deployment.client.get("/v1/keys", headers=h)).json()
    assert keys["activeVersion"] == 1
    assert keys["keys"][0]["encryptedRows"] == 3
    material = deployment.service.keys.source("acme").keyring.primary.material
    assert base64.b64encode(material).decode() not in json.dumps(keys)

    regulations = (await deployment.client.get("/v1/regulations", headers=h)).json()
    assert [r["name"] for r in regulations["regulations"]] == ["kids-ads"]


async def test_health_readiness_metrics_and_openapi(deployment: Deployment) -> None:
    assert (await deployment.client.get("/healthz")).json() == {"status": "ok"}
    ready = (await deployment.client.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert ready["schema"] == head_revision()
    await post(deployment, "acme", [ad("m1")])
    metrics = (await deployment.client.get("/metrics")).text
    assert 'ottc_events_ingested_total{tenant="acme"} 1.0' in metrics
    spec = (await deployment.client.get("/openapi.json")).json()
    for path in ("/v1/events", "/v1/violations", "/v1/violations/{violation_id}/ack", "/v1/reports",
                 "/v1/analytics", "/v1/regulations", "/v1/usage", "/v1/keys"):  # fmt: skip
        assert path in spec["paths"], path
    post_events = spec["paths"]["/v1/events"]["post"]
    assert post_events["requestBody"]["content"]["application/json"]["example"]["events"]
    assert "application/problem+json" in post_events["responses"]["422"]["content"]
    # (without a key anything under /v1 is a 401: api.guards refuses it before routing)
    missing = await deployment.client.get("/v1/nothing-here", headers=deployment.headers("acme"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
