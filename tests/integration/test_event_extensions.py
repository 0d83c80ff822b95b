"""A platform's own event fields: declared in spec.eventSchema.extensions (by a set or the
tenant), they are accepted on ingest as strictly as ours and rules over them fire; an
undeclared field is still refused, with a message naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .conftest import serve_in_thread

RULES = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "profiles"},
    "spec": {
        "jurisdiction": "XX",
        "version": "1",
        "eventSchema": {"extensions": [
            {"path": "viewer.profileType", "type": "string", "enum": ["adult", "teen", "kids"]},
        ]},
        "rules": [{
            "id": "teen-ads", "severity": "high", "appliesTo": ["ad.impression"],
            "when": "event.viewer.profileType == 'teen' && event.content.genre == 'horror'",
            "message": "a {{event.content.genre}} ad for a {{event.viewer.profileType}} profile",
            "reference": "r",
        }],
    },
}  # fmt: skip
TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "own-fields"},
    "spec": {
        "displayName": "Own Fields",
        "regulations": [{"name": "profiles"}],
        # the tenant declares one more field, that the set's rule reads
        "eventSchema": {"extensions": [{"path": "content.genre", "type": "string"}]},
        "gateway": {"rateLimit": {"perSecond": 100000}},
    },
}


def ad(event_id: str, viewer: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    return {"specVersion": "1", "id": event_id, "type": "ad.impression",
            "time": "2026-12-01T10:00:00Z", "ad": {"durationSeconds": 30},
            "viewer": viewer, "content": content}  # fmt: skip


def test_declared_fields_are_accepted_checked_and_readable_by_rules(tmp_path: Path) -> None:
    with serve_in_thread([RULES, TENANT], tmp_path) as (port, api_keys):
        headers = {"X-API-Key": api_keys["own-fields"][0]}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def post(*events: dict[str, Any]) -> httpx.Response:
                return client.post("/v1/events", json={"events": list(events)}, headers=headers)

            fired = post(
                ad("e1", {"id": "v1", "profileType": "teen"}, {"id": "c1", "genre": "horror"}),
                ad("e2", {"id": "v2", "profileType": "adult"}, {"id": "c1", "genre": "horror"}),
            )
            assert fired.status_code == 200, fired.text
            (violation,) = fired.json()["violations"]
            assert violation["eventId"] == "e1"
            assert violation["message"] == "a horror ad for a teen profile"

            wrong_value = post(ad("e3", {"id": "v3", "profileType": "child"}, {"id": "c1"}))
            assert wrong_value.status_code == 422
            (problem,) = wrong_value.json()["errors"]
            assert problem["field"] == "viewer.profileType"
            assert "not one of the declared values: adult, teen, kids" in problem["message"]

            wrong_type = post(ad("e4", {"id": "v4"}, {"id": "c1", "genre": 7}))
            assert wrong_type.status_code == 422
            assert wrong_type.json()["errors"][0]["field"] == "content.genre"

            undeclared = post(ad("e5", {"id": "v5", "mood": "happy"}, {"id": "c1"}))
            assert undeclared.status_code == 422
            (problem,) = undeclared.json()["errors"]
            assert problem["field"] == "viewer.mood"
            assert "spec.eventSchema.extensions" in problem["message"]

            # what was refused stored nothing; what was accepted is there, fields included
            stored = client.get("/v1/events", headers=headers)
            assert stored.status_code == 200, stored.text
            by_id = {item["id"]: item["event"] for item in stored.json()["items"]}
            assert set(by_id) == {"e1", "e2"}
            assert by_id["e1"]["viewer"]["profileType"] == "teen"
            assert by_id["e1"]["content"]["genre"] == "horror"

            # the published schema of the type shows both declared fields where they go
            schema = client.get("/v1/schemas/events/ad.impression", headers=headers).json()
            viewer = schema["$defs"]["Viewer"]["properties"]["profileType"]
            assert viewer == {
                "type": "string",
                "maxLength": 1024,
                "enum": ["adult", "teen", "kids"],
                "x-ottc-extension": True,
            }
            assert schema["$defs"]["Content"]["properties"]["genre"]["x-ottc-extension"] is True
            listing = client.get("/v1/schemas/events", headers=headers).json()
            assert {e["path"] for e in listing["extensions"]} == {
                "viewer.profileType",
                "content.genre",
            }
            missing = client.get("/v1/schemas/events/nope", headers=headers)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
