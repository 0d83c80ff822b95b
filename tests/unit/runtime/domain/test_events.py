"""The event model: strict, bounded, documented; checked-in schemas match the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from ott_runtime.domain.events import (
    EVENT_TYPES,
    SCHEMA_DIR,
    event_json_schema,
    parse_event,
    render_event_schemas,
    to_rule_input,
)

GOOD = {"specVersion": "1", "id": "e-1", "type": "ad.impression", "time": "2026-11-26T14:00:00Z",
        "ad": {"durationSeconds": 30, "targeted": True}}  # fmt: skip


def test_required_types_exist() -> None:
    for t in ("playback.start", "playback.heartbeat", "content.publish", "ad.impression",
              "account.signup", "consent.update", "data.transfer", "grievance.filed"):  # fmt: skip
        assert t in EVENT_TYPES


def test_round_trip_to_rule_input_drops_unset_fields() -> None:
    data = to_rule_input(parse_event(GOOD))
    assert data["ad"] == {"durationSeconds": 30, "targeted": True}
    assert "viewer" not in data


@pytest.mark.parametrize(
    "patch",
    [
        {"extra": 1},
        {"id": "x" * 129},
        {"time": "2026-11-26 14:00"},
        {"time": 1764165600},
        {"specVersion": "2"},
        {"type": "ad.click"},
        {"ad": {"durationSeconds": "30"}},
        {"viewer": {"country": "Germany"}},
        {"viewer": {"email": "x" * 300 + "@a.b"}},
    ],
)
def test_bad_events_are_rejected(patch: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_event({**GOOD, **patch})


def test_every_field_is_documented() -> None:
    def walk(schema: dict[str, Any]) -> int:
        properties: dict[str, dict[str, Any]] = schema.get("properties", {})
        for name, prop in properties.items():
            assert prop.get("description"), name
        return len(properties)

    for t in EVENT_TYPES:
        schema = event_json_schema(t)
        documented = walk(schema) + sum(walk(sub) for sub in schema.get("$defs", {}).values())
        assert documented > 5


def test_checked_in_schemas_are_current() -> None:
    expected = render_event_schemas()
    for name, text in expected.items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"missing {path}: run python -m ott_runtime.domain.events"
        assert path.read_text() == text, f"{path} is stale: run python -m ott_runtime.domain.events"
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(expected)


def test_scenario_events_pass_the_model_and_the_published_schema() -> None:
    scenario = Path(__file__).resolve().parents[4] / "examples" / "events" / "scenario.jsonl"
    events = [json.loads(line) for line in scenario.read_text().splitlines() if line.strip()]
    assert {e["type"] for e in events} >= {"playback.start", "ad.impression", "data.transfer"}
    for event in events:
        parse_event(event)
        schema = json.loads((SCHEMA_DIR / f"{event['type']}.json").read_text())
        jsonschema.Draft202012Validator(schema).validate(event)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate({**event, "unknown": 1})
