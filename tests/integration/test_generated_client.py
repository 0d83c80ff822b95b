"""A client generated from the running server's /openapi.json (openapi-python-client, all
local) drives an ingest -> violations -> acknowledge round trip and reads every other REST
operation: each answer parses into the typed model its operation declares, with no key the
schema does not name. The document itself: every REST operation declares a typed 2xx
response, and every example in it matches its schema."""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import jsonschema
import pytest
import yaml

from .conftest import REGULATION, serve_in_thread

TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "typed"},
    "spec": {
        "displayName": "Typed Client",
        "regulations": [{"name": "kids-ads"}],
        "encryption": {"fields": ["viewer.id"], "searchable": ["viewer.id"]},
        "gateway": {"rateLimit": {"perSecond": 100000}},
    },
}
PACKAGE = "ott_generated_client"
# the answers that are data, not JSON objects (format=csv and html are documented as text)
NOT_OBJECTS = {"/v1/reports"}


def kids_ad(event_id: str) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:15:00Z",
        "viewer": {"id": f"viewer-{event_id}", "isKidsProfile": True, "age": 9},
        "content": {"id": "show-7", "channelId": "kids-1"},
        "ad": {"id": "ad-9", "durationSeconds": 30, "targeted": True},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real uvicorn on loopback, in a thread: (base URL, the tenant's API key)."""
    folder: Path = tmp_path_factory.mktemp("typed")
    with serve_in_thread([REGULATION, TENANT], folder) as (port, api_keys):
        yield f"http://127.0.0.1:{port}", api_keys["typed"][0]


@pytest.fixture(scope="module")
def document(server: tuple[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = httpx.get(f"{server[0]}/openapi.json").json()
    return spec


@pytest.fixture(scope="module")
def generated(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The client package generated from the served document, imported."""
    root: Path = tmp_path_factory.mktemp("client")
    (root / "openapi.yaml").write_text(yaml.safe_dump(document))
    (root / "config.yaml").write_text("post_hooks: []\n")  # no formatter run: not needed
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none",
         "--path", str(root / "openapi.yaml"), "--output-path", str(root / PACKAGE),
         "--config", str(root / "config.yaml")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # the generator skips what it cannot type, with a warning: our schema must give none
    assert "Warning" not in output, output
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def undeclared_keys(value: Any, where: str = "answer") -> list[str]:
    """Keys the server sent that the schema does not name, anywhere in a parsed answer
    (a model with no declared properties is a map: its keys are data)."""
    found: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += undeclared_keys(item, f"{where}[{index}]")
    elif attrs.has(type(value)):
        names = [f.name for f in attrs.fields(type(value)) if f.name != "additional_properties"]
        if names:
            found += [f"{where}.{key}" for key in value.additional_properties]
        for name in names:
            found += undeclared_keys(getattr(value, name), f"{where}.{name}")
    return found


def test_every_rest_operation_declares_a_typed_response(document: dict[str, Any]) -> None:
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        if not path.startswith("/v1/graphql")  # strawberry's: the GraphQL schema types it
        for method, operation in methods.items()
    ]
    assert len(operations) == 16
    components = document["components"]["schemas"]
    untyped = []
    for path, method, operation in operations:
        (status,) = [s for s in operation["responses"] if s.startswith("2")]
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        name = schema.get("$ref", "").removeprefix("#/components/schemas/")
        if not components.get(name, {}).get("properties"):
            untyped.append(f"{method.upper()} {path}")
        for error in (s for s in operation["responses"] if s[0] in "45"):
            content = operation["responses"][error]["content"]
            assert content == {"application/problem+json": content["application/problem+json"]}
            problem = content["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}, (path, error)
    assert untyped == []


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        # the schema by reference from a root holding the components, so its refs resolve
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        )
        for example in schema.get("examples", []):
            validator.validate(example)
            checked += 1
    assert checked >= 25


def test_ingest_list_and_acknowledge_with_the_generated_client(
    generated: ModuleType, server: tuple[str, str]
) -> None:
    base, key = server
    models = part(generated, "models")
    ingest_events = part(generated, "api.events.ingest_events")
    list_violations = part(generated, "api.violations.list_violations")
    acknowledge = part(generated, "api.violations.acknowledge_violation")
    client = generated.AuthenticatedClient(base_url=base, token=key)  # Authorization: Bearer
    batch = models.IngestEventsBodyType1.from_dict(
        {"events": [kids_ad("typed-1"), kids_ad("typed-2")]}
    )

    answer = ingest_events.sync(client=client, body=batch)
    assert isinstance(answer, models.IngestAnswer), answer
    assert answer.accepted == 2
    assert answer.duplicates == []
    assert answer.risk == []
    assert undeclared_keys(answer) == []
    targeted = [v for v in answer.violations if v.rule_id == "no-targeted-ads-to-kids"]
    assert sorted(v.event_id for v in targeted) == ["typed-1", "typed-2"]
    for violation in targeted:
        assert isinstance(violation, models.Violation)
        assert violation.severity is models.ViolationSeverity.CRITICAL
        assert violation.event_type == "ad.impression"
        assert violation.content_id == "show-7"
        assert violation.occurred_at == dt.datetime(2026, 11, 26, 20, 15, tzinfo=dt.UTC)
        assert isinstance(violation.created_at, dt.datetime)
        assert violation.created_at.tzinfo is not None
        assert (violation.acknowledged, violation.acknowledged_at) == (False, None)
        assert (violation.acknowledged_by, violation.note) == (None, None)
        assert "viewer-typed" not in violation.message  # the encrypted field stays sealed

    again = ingest_events.sync(client=client, body=batch)
    assert isinstance(again, models.IngestAnswer)
    assert (again.accepted, sorted(again.duplicates)) == (0, ["typed-1", "typed-2"])

    page = list_violations.sync(
        client=client, severity=models.Severity.CRITICAL, acknowledged=False, limit=10
    )
    assert isinstance(page, models.ViolationPage), page
    assert page.next_cursor is None
    assert [v.id for v in page.items] == [v.id for v in targeted]
    assert undeclared_keys(page) == []

    chosen = page.items[0]
    note = models.Acknowledgement(by="compliance-desk", note="ad schedule fixed")
    acknowledged = acknowledge.sync(chosen.id, client=client, body=note)
    assert isinstance(acknowledged, models.Violation), acknowledged
    assert acknowledged.id == chosen.id
    assert acknowledged.acknowledged is True
    assert isinstance(acknowledged.acknowledged_at, dt.datetime)
    assert acknowledged.acknowledged_at >= chosen.created_at
    assert (acknowledged.acknowledged_by, acknowledged.note) == (
        "compliance-desk",
        "ad schedule fixed",
    )
    assert undeclared_keys(acknowledged) == []

    done = list_violations.sync(client=client, acknowledged=True)
    assert isinstance(done, models.ViolationPage)
    assert [(v.id, v.acknowledged_by) for v in done.items] == [(chosen.id, "compliance-desk")]
    open_ones = list_violations.sync(
        client=client, rule="no-targeted-ads-to-kids", acknowledged=False
    )
    assert isinstance(open_ones, models.ViolationPage)
    assert [v.id for v in open_ones.items] == [targeted[1].id]

    missing = acknowledge.sync("no-such-violation", client=client)
    assert isinstance(missing, models.Problem), missing
    assert (missing.status, missing.type_) == (404, "urn:ott-compliance:problem:not-found")
    refused = list_violations.sync(client=generated.AuthenticatedClient(base_url=base, token="x"))
    assert isinstance(refused, models.Problem)
    assert refused.status == 401


def test_every_other_operation_parses_into_its_model(
    generated: ModuleType, server: tuple[str, str]
) -> None:
    base, key = server
    models = part(generated, "models")
    client = generated.AuthenticatedClient(base_url=base, token=key)
    ingest_events = part(generated, "api.events.ingest_events")
    body = models.IngestEventsBodyType1.from_dict({"events": [kids_ad("other-1")]})
    assert isinstance(ingest_events.sync(client=client, body=body), models.IngestAnswer)
    day = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "api.events.list_events": ("EventPage", {"field": "viewer.id", "value": "viewer-other-1"}),
        "api.reports.report": ("Report", {"period": "2026-11"}),
        "api.analytics.analytics": ("Analytics", {"since": day, "until": day + dt.timedelta(1)}),
        "api.tenant.regulations": ("Regulations", {}),
        "api.tenant.usage": ("Usage", {}),
        "api.tenant.keys": ("KeyStatus", {}),
        "api.models.models": ("ModelsStatus", {}),
        "api.notifications.dead_letters": ("DeadLetterPage", {}),
        "api.health.healthz": ("Health", {}),
        "api.health.readyz": ("Readiness", {}),
    }
    parsed: dict[str, Any] = {}
    for module, (model, arguments) in calls.items():
        answer = part(generated, module).sync(client=client, **arguments)
        assert isinstance(answer, getattr(models, model)), (module, answer)
        assert undeclared_keys(answer) == [], module
        parsed[model] = answer

    stored = part(generated, "api.events.list_events").sync(client=client, limit=500).items
    (event,) = parsed["EventPage"].items
    assert event.id == "other-1"
    assert event.event.additional_properties["viewer"]["id"] == "viewer-other-1"  # decrypted
    assert event.max_severity is models.StoredEventMaxSeverityType0.CRITICAL
    report = parsed["Report"]
    assert report.from_ == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert report.events.additional_properties == {"ad.impression": len(stored)}
    assert "no-targeted-ads-to-kids" in {r.rule_id for r in report.rules}
    (point,) = parsed["Analytics"].points
    assert point.bucket == dt.datetime(2026, 11, 26, 20, tzinfo=dt.UTC)
    assert point.events.additional_properties == {"ad.impression": len(stored)}
    (regulation,) = parsed["Regulations"].regulations
    assert regulation.aggregates[0].group_by == ["content.channelId"]
    assert parsed["Usage"].estimated_charge.items.base == "99.00"
    assert parsed["KeyStatus"].keys[0].encrypted_rows == len(stored)
    assert parsed["KeyStatus"].searchable_fields == ["viewer.id"]
    assert parsed["DeadLetterPage"].items == []
    assert parsed["Readiness"].tenants == 1

    retry = part(generated, "api.notifications.retry_dead_letter").sync("none", client=client)
    assert isinstance(retry, models.Problem)
    assert retry.status == 404
