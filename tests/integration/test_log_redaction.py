"""The whole log output of a real `ottc serve` at debug level holds no plaintext of an
encrypted field and no API key: not after ingesting sealed fields, not after a search by
a searchable field's value (it is in the URL), not when a client puts its key in the
query string of a request or of a WebSocket. With --access-log the lines are there,
without their query strings; without it there are none.

The one deliberate exception is the standalone start-up banner (the demo API keys a user
needs to call the API), which is cut out before the scan.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from .conftest import REGULATION
from .killable_server import KillableServer, write_config

MARK = uuid.uuid4().hex[:10]
SEALED = {
    "viewer.id": f"viewer-{MARK}",
    "viewer.email": f"pat.{MARK}@example.org",
    "device.ip": "198.51.100.77",
}
TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "acme"},
    "spec": {
        "displayName": "Acme",
        "regulations": [{"name": "kids-ads"}],
        "encryption": {"fields": list(SEALED), "searchable": ["viewer.id"]},
        "gateway": {"rateLimit": {"perSecond": 10000}},
    },
}


def event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {"id": SEALED["viewer.id"], "email": SEALED["viewer.email"],
                   "isKidsProfile": True},
        "device": {"ip": SEALED["device.ip"]},
        "content": {"id": "show-1", "channelId": "ch-1"},
        "ad": {"id": "ad-1", "durationSeconds": 20, "targeted": True},
        **changes,
    }  # fmt: skip


def without_banner(lines: list[str]) -> list[str]:
    """The log lines less the start-up banner's API key table and its curl example."""
    start = next(i for i, line in enumerate(lines) if "Demo API keys" in line)
    end = next(i for i, line in enumerate(lines) if "try: curl" in line)
    return lines[:start] + lines[end + 1 :]


@pytest.mark.parametrize("access_log", [False, True], ids=["default", "access-log"])
def test_the_logs_of_a_serve_run_hold_no_sealed_value_and_no_key(
    tmp_path_factory: pytest.TempPathFactory, access_log: bool
) -> None:
    root = tmp_path_factory.mktemp("redaction")
    config = write_config(root / "config", [REGULATION, TENANT])
    args = ("--log-level", "debug", *(["--access-log"] if access_log else []))
    with KillableServer(config, root / "state", args=args) as server:
        key = server.api_key("acme")
        with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}) as http:
            assert http.post("/v1/events", json=[event("a1"), event("a2")]).status_code == 200
            found = http.get(
                "/v1/events", params={"field": "viewer.id", "value": SEALED["viewer.id"]}
            )
            assert [e["id"] for e in found.json()["items"]] == ["a1", "a2"], found.text
            not_searchable = {"field": "viewer.email", "value": SEALED["viewer.email"]}
            assert http.get("/v1/events", params=not_searchable).status_code == 400
            refused = http.post("/v1/events", json=[event("bad", time="not a time")])
            assert refused.status_code == 422
            graphql = http.post(
                "/v1/graphql",
                json={
                    "query": "mutation($e: [JSON!]!) { processEvents(events: $e) { accepted } }",
                    "variables": {"e": [event("g1"), event("g2", time="never")]},
                },
            )
            assert graphql.status_code == 200
        # a key in the URL is not how the API authenticates, but a client may try
        in_url = httpx.get(f"{server.base_url}/v1/violations", params={"api_key": key})
        assert in_url.status_code == 401
        stream_url = f"ws://127.0.0.1:{server.port}/v1/stream?apiKey={key}"
        with connect(stream_url, additional_headers={"X-API-Key": key}) as socket:
            socket.send('{"type": "subscribe", "channel": "violations"}')
            assert "violations" in str(socket.recv(timeout=10))
        with connect(f"ws://127.0.0.1:{server.port}/v1/stream") as socket:  # as browsers do
            socket.send(f'{{"type": "auth", "apiKey": "{key}"}}')
            assert "welcome" in str(socket.recv(timeout=10))
    lines = server.log_path.read_text(errors="replace").splitlines()
    scanned = "\n".join(without_banner(lines))
    assert '"logger": "uvicorn.error"' in scanned, "the debug run logged uvicorn's lines"
    secrets = {f"plaintext of {field}": value for field, value in SEALED.items()}
    secrets["the API key"] = key
    leaked = sorted(name for name, value in secrets.items() if value in scanned)
    assert not leaked, f"the log holds {leaked}"
    access_lines = [line for line in lines if '"logger": "uvicorn.access"' in line]
    if access_log:
        assert any('\\"GET /v1/events HTTP/1.1\\" 200' in line for line in access_lines)
    else:
        assert access_lines == [], "the access log is off unless asked for"
