"""A rule that never applies is visible: a real server's /metrics and GET /v1/regulations
count, per rule, evaluations, hits, evaluations skipped for a missing field (with the key)
and errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from .conftest import serve_in_thread

RULES = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "health"},
    "spec": {
        "jurisdiction": "US",
        "version": "1",
        "rules": [
            {   # reads viewer without has(): events without a viewer skip it
                "id": "kids-ads",
                "severity": "high",
                "appliesTo": ["ad.impression"],
                "when": "event.viewer.isKidsProfile && event.ad.targeted",
                "message": "targeted ad on a kids profile",
                "reference": "r",
            },
            {
                "id": "long-ads",
                "severity": "low",
                "appliesTo": ["ad.impression"],
                "when": "event.ad.durationSeconds > 60",
                "message": "long ad",
                "reference": "r",
            },
        ],
    },
}  # fmt: skip
TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "watched"},
    "spec": {
        "displayName": "Watched",
        "regulations": [{"name": "health"}],
        "gateway": {"rateLimit": {"perSecond": 100000}},
    },
}


def ad(index: int, **fields: Any) -> dict[str, Any]:
    return {"specVersion": "1", "id": f"ad-{index}", "type": "ad.impression",
            "time": "2026-12-01T10:00:00Z", "ad": {"durationSeconds": 30, "targeted": True},
            **fields}  # fmt: skip


def metric(text: str, name: str, rule: str) -> float:
    pattern = rf'^{name}\{{[^}}]*rule="{re.escape(rule)}"[^}}]*tenant="watched"[^}}]*\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name} for {rule} not in /metrics"
    return float(found.group(1))


def test_a_rule_that_never_applies_shows_in_metrics_and_the_api(tmp_path: Path) -> None:
    with serve_in_thread([RULES, TENANT], tmp_path) as (port, api_keys):
        headers = {"X-API-Key": api_keys["watched"][0]}
        events = [ad(i) for i in range(5)]  # no viewer: kids-ads does not apply
        events.append(ad(5, viewer={"isKidsProfile": True}))  # applies and fires
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            answer = client.post("/v1/events", json={"events": events}, headers=headers)
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["violations"]) == 1
            text = client.get("/metrics").text
            health = {
                entry["rule"]: entry
                for entry in client.get("/v1/regulations", headers=headers).json()["health"]
            }
            query = "{ regulations { rules { qualifiedId health { evaluated hits notApplied "
            query += "errors lastMissingKey } } } }"
            graph = client.post("/v1/graphql", json={"query": query}, headers=headers).json()

    assert metric(text, "ottc_rule_evaluations_total", "health/kids-ads") == 6
    assert metric(text, "ottc_rule_not_applied_total", "health/kids-ads") == 5
    assert metric(text, "ottc_rule_hits_total", "health/kids-ads") == 1
    assert metric(text, "ottc_rule_not_applied_total", "health/long-ads") == 0
    assert metric(text, "ottc_rule_errors_total", "health/long-ads") == 0
    kids = health["health/kids-ads"]
    assert (kids["evaluated"], kids["hits"], kids["notApplied"]) == (6, 1, 5)
    assert kids["lastMissingKey"] == "viewer"
    assert health["health/long-ads"]["notApplied"] == 0
    graph_health = {
        rule["qualifiedId"]: rule["health"]
        for regulation in graph["data"]["regulations"]
        for rule in regulation["rules"]
    }
    assert graph_health["health/kids-ads"] == {
        "evaluated": 6, "hits": 1, "notApplied": 5, "errors": 0, "lastMissingKey": "viewer"
    }  # fmt: skip
