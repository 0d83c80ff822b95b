"""Schemathesis over our own OpenAPI document: whatever it generates, valid or not, the
API answers without a 5xx, and every error is an RFC 9457 problem document."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from ott_runtime.ingest.service import RuntimeService
from ott_runtime.standalone import build_server, standalone_config

from .conftest import REGULATION, _free_port

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
    (folder / "config.yaml").write_text(yaml.safe_dump_all([REGULATION, TENANT]))
    config = standalone_config([folder / "config.yaml"], folder / "state")
    service = RuntimeService(
        config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
    )
    port = _free_port()
    server = build_server(service, port=port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "server thread ended during startup"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", config.api_keys["fuzz"][0]
    server.should_exit = True
    thread.join(timeout=30)


def _check(case: schemathesis.Case, base: str, api_key: str) -> None:
    response = case.call(base_url=base, headers={"X-API-Key": api_key})
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, (where, response.text[:500])
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
        for operation in (result.ok() for result in schema.get_all_operations())
        if not operation.path.startswith("/v1/graphql")
    ]
    assert len(operations) >= 10
    fuzzed = 0
    for operation in operations:

        @settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
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
