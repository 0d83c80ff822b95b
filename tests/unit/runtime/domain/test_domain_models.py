"""Behaviour of the domain models beyond what the CRD agreement corpus shows."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ott_runtime.domain import ComplianceTenant, ComplianceTenantSpec, RegulationSet, Severity
from ott_runtime.domain.durations import format_duration, parse_duration
from ott_runtime.domain.tenant import CRON_PATTERN, Isolation, Plan, StorageMode

VALID = sorted((Path(__file__).resolve().parents[3] / "corpus" / "valid").glob("*.yaml"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(minutes=90)),
        ("720h", timedelta(days=30)),
        ("2w", timedelta(days=14)),
        ("5ms", timedelta(milliseconds=5)),
        ("1d12h", timedelta(hours=36)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "0s", "0d", "01h", "1y", "1h 30m", "-5m", "h", "1.5h", "1" * 40 + "s"]
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**9))
def test_format_duration_round_trips(seconds: int) -> None:
    text = format_duration(timedelta(seconds=seconds))
    assert parse_duration(text) == timedelta(seconds=seconds)


ACCEPTED_SCHEDULES = [
    "0 3 * * 0",
    "*/15 0-6,22,23 1-7 */2 1-5",
    "59 23 31 12 7",
    "0 0 1 1 *",
    "5,10-20/5 * * * *",
    "@weekly",
    "@daily",
]
REFUSED_SCHEDULES = [
    "61 3 * * 0",
    "0 24 * * *",
    "0 0 32 * *",
    "0 0 0 * *",
    "0 0 * 13 *",
    "0 0 * * 8",
    "0 3 * *",
    "every sunday",
    "*/0 * * * *",
]


@pytest.mark.parametrize("schedule", ACCEPTED_SCHEDULES)
def test_cron_pattern_accepts_what_cron_accepts(schedule: str) -> None:
    assert re.fullmatch(CRON_PATTERN, schedule)
    assert croniter.is_valid(schedule)


@pytest.mark.parametrize("schedule", REFUSED_SCHEDULES)
def test_cron_pattern_refuses_what_cron_refuses(schedule: str) -> None:
    assert not re.fullmatch(CRON_PATTERN, schedule)
    assert not croniter.is_valid(schedule)


def test_defaults_of_a_minimal_tenant() -> None:
    spec = ComplianceTenantSpec(display_name="Acme")
    assert (spec.plan, spec.isolation, spec.storage.mode) == (
        Plan.STANDARD,
        Isolation.DEDICATED,
        StorageMode.EMBEDDED,
    )
    assert spec.scoring.replicas is None
    assert spec.scoring.retrain_schedule == "0 3 * * 0"
    assert parse_duration(spec.encryption.rotation_interval) == timedelta(days=30)
    assert (spec.retention.events, spec.retention.violations) == ("90d", "365d")


def test_python_callers_may_use_snake_case_and_plain_strings() -> None:
    spec = ComplianceTenantSpec(display_name="Acme", plan="free", storage={"mode": "managed"})  # type: ignore[arg-type]
    assert spec.plan is Plan.FREE
    assert spec.storage.mode is StorageMode.MANAGED


@pytest.mark.parametrize(
    ("scoring", "where"),
    [
        ({"replicas": {"min": "2"}}, ("scoring", "replicas", "min")),
        ({"replicas": {"min": 2.0}}, ("scoring", "replicas", "min")),
        ({"models": {"lstm": "true"}}, ("scoring", "models", "lstm")),
        ({"riskThreshold": "0.5"}, ("scoring", "riskThreshold")),
    ],
)
def test_scalars_are_strict_like_the_api_server(
    scoring: dict[str, object], where: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as raised:
        ComplianceTenantSpec.model_validate(
            {"displayName": "X", "storage": {"mode": "managed"}, "scoring": scoring}
        )
    assert [e["loc"] for e in raised.value.errors()] == [where]


def test_an_integer_is_a_valid_number() -> None:
    spec = ComplianceTenantSpec.model_validate(
        {"displayName": "X", "scoring": {"riskThreshold": 1}}
    )
    assert spec.scoring.risk_threshold == 1.0


def test_cross_field_errors_explain_themselves() -> None:
    with pytest.raises(ValidationError, match="not allowed for pooled isolation"):
        ComplianceTenantSpec.model_validate(
            {"displayName": "X", "isolation": "pooled", "scoring": {"replicas": {"max": 1}}}
        )
    rule = {
        "id": "a",
        "severity": "low",
        "appliesTo": ["a.b"],
        "when": "true",
        "message": "m",
        "reference": "r",
    }
    with pytest.raises(ValidationError, match=r"rule ids must be unique: a repeated"):
        ComplianceTenantSpec.model_validate({"displayName": "X", "customRules": [rule, rule]})


def test_pooled_tenant_with_embedded_storage_needs_no_replicas() -> None:
    spec = ComplianceTenantSpec.model_validate({"displayName": "X", "isolation": "pooled"})
    assert spec.scoring.replicas is None


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_documents_round_trip(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    model = {"ComplianceTenant": ComplianceTenant, "RegulationSet": RegulationSet}[document["kind"]]
    parsed = model.model_validate(document)
    assert model.model_validate(parsed.to_document()) == parsed
    assert parsed.name == document["metadata"]["name"]


def test_severity_ranks_in_order() -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.LOW.rank


@pytest.mark.parametrize(
    "document",
    [
        {"metadata": {"name": "acme\n"}},
        {"spec": {"displayName": "X", "encryption": {"rotationInterval": "1h\n"}}},
        {"spec": {"displayName": "X", "scoring": {"retrainSchedule": "0 3 * * 0\n"}}},
        {"spec": {"displayName": "X", "gateway": {"host": "api.example.com\n"}}},
        {
            "spec": {
                "displayName": "X",
                "notifications": {
                    "webhooks": [
                        {
                            "url": "https://hooks.example/a\u00a0b",
                            "secretRef": {"name": "h", "key": "k"},
                        }
                    ]
                },
            }
        },
    ],
)
def test_patterns_match_whole_values_as_go_regexes_do(document: dict[str, object]) -> None:
    """A trailing newline or a non-ASCII space slips past Python's `$` and `\\S`, not Go's."""
    tenant = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": "acme"},
        "spec": {"displayName": "X"},
    }
    ComplianceTenant.model_validate(tenant)
    with pytest.raises(ValidationError, match="String should match pattern"):
        ComplianceTenant.model_validate({**tenant, **document})
