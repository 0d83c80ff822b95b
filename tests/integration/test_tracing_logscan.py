"""The logs and traces of a real `ottc serve` run never show secrets: no key material
(data keys, blind-index key, before and after a rotation), no API key, and no plaintext
of the tenant's encrypted fields — even at debug level, even when a request is refused.

The one exception is deliberate: the standalone start-up banner (stderr, not a log
line) prints the demo API keys it generated so that a user can call the API.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from ott_runtime.devcluster.jaeger import JaegerServer, JaegerUnavailable, throwaway_jaeger
from ott_runtime.devcluster.postgres import free_port
from ott_runtime.domain.keyring import KeyRing

from .conftest import REGULATION

OTTC = Path(sys.executable).parent / "ottc"
ENCRYPTED = ["viewer.id", "viewer.email", "device.ip"]
MARK = uuid.uuid4().hex[:10]
PLAINTEXT = {
    "viewer.id": f"viewer-{MARK}",
    "viewer.email": f"pat.{MARK}@example.org",
    "device.ip": "198.51.100.213",
}


@pytest.fixture(scope="module")
def jaeger() -> Iterator[JaegerServer]:
    try:
        with throwaway_jaeger() as server:
            yield server
    except JaegerUnavailable as error:
        pytest.fail(str(error))


def ad(event_id: str, *, kids: bool) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {
            "id": PLAINTEXT["viewer.id"],
            "email": PLAINTEXT["viewer.email"],
            "isKidsProfile": kids,
        },
        "device": {"ip": PLAINTEXT["device.ip"]},
        "content": {"id": "show-1", "channelId": "ch-1"},
        "ad": {"id": "ad-1", "durationSeconds": 20, "targeted": kids},
    }


def secret_forms(raw: bytes) -> set[str]:
    """How key bytes could show up in text."""
    return {
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        repr(raw)[2:-1],
    }


def keyrings(state: Path) -> list[KeyRing]:
    return [KeyRing.from_json(p.read_text()) for p in sorted((state / "keys").rglob("*.json"))]


def test_a_serve_run_with_rotation_logs_and_traces_no_secrets(
    tmp_path: Path, jaeger: JaegerServer
) -> None:
    config, state = tmp_path / "config.yaml", tmp_path / "state"
    tenant = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": "acme"},
        "spec": {
            "displayName": "Acme",
            "regulations": [{"name": "kids-ads"}],
            "encryption": {"fields": ENCRYPTED},
            "gateway": {"rateLimit": {"perSecond": 10000}},
        },
    }
    config.write_text(yaml.safe_dump_all([REGULATION, tenant]))
    port, service = free_port(), f"ottc-logscan-{MARK}"
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    env = {**os.environ, **jaeger.otel_env(service), "OTTC_LOG_FORMAT": "json"}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(OTTC),
                "serve",
                "--config",
                str(config),
                "--state-dir",
                str(state),
                "--port",
                str(port),
                "--log-level",
                "debug",
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "ottc serve not ready in 90 s"
            time.sleep(0.2)
        api_key = json.loads((state / "api-keys.json").read_text())["acme"]
        http = httpx.Client(base_url=base, headers={"X-API-Key": api_key}, timeout=30)

        def post(*events: dict[str, Any]) -> httpx.Response:
            return http.post("/v1/events", content=orjson.dumps({"events": list(events)}))

        assert post(ad("a1", kids=True), ad("a2", kids=False)).status_code == 200
        before = http.get("/v1/keys").json()
        rotate = subprocess.run(
            [str(OTTC), "keys", "rotate", "--config", str(config), "--state-dir", str(state)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert rotate.returncode == 0, rotate.stderr
        deadline = time.monotonic() + 20
        while http.get("/v1/keys").json() == before:  # the server reloads the keyring
            assert time.monotonic() < deadline, "the rotated keyring was not picked up"
            time.sleep(0.3)
        assert post(ad("b1", kids=True)).status_code == 200
        read_back = http.get("/v1/events", params={"limit": 10})
        assert read_back.status_code == 200
        assert PLAINTEXT["viewer.email"] in read_back.text, "decrypted for the tenant itself"
        refused = post({**ad("bad", kids=True), "time": "not a time"})
        assert refused.status_code == 422
        rotate_out = rotate.stdout + rotate.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    rings = keyrings(state)
    assert [len(r.keys) for r in rings] == [2], "one tenant, rotated once"
    secrets: list[tuple[str, str]] = [(f"plaintext {k}", v) for k, v in PLAINTEXT.items()]
    secrets.append(("API key", api_key))
    for ring in rings:
        for key in ring.keys:
            secrets += [(f"data key v{key.version}", f) for f in secret_forms(key.material)]
        secrets += [("blind-index key", f) for f in secret_forms(ring.index_key)]

    logs = log_path.read_text(errors="replace")
    lines = [line for line in logs.splitlines() if line.strip()]
    assert lines, "the server logged nothing at debug level"
    structured = [json.loads(line) for line in lines if line.startswith("{")]
    assert structured, "ottc serve writes JSON log lines"
    assert any(entry.get("trace_id") for entry in structured), "log lines carry the trace id"

    deadline = time.monotonic() + 15  # flushed on shutdown; Jaeger stores asynchronously
    while (
        "ottc.stream.publish" not in (traces := orjson.dumps(jaeger.traces(service)).decode())
        and time.monotonic() < deadline
    ):
        time.sleep(0.3)
    assert "ottc.ingest" in traces
    for where, text in (("output", logs), ("traces", traces), ("ottc keys rotate", rotate_out)):
        found = sorted({label for label, value in secrets if value in text})
        if where == "output":  # the standalone banner shows the demo API key on purpose
            banner = "\n".join(line for line in lines if not line.startswith("{"))
            assert "Demo API keys" in banner
            if api_key not in "\n".join(line for line in lines if line.startswith("{")):
                found = [label for label in found if label != "API key"]
        assert not found, f"{where} of a serve run contains {found}"
