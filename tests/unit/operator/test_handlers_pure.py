"""The pure parts of the handlers: a set compiled on its own, indexed sets parsed, the final
usage record, and the CLI refusing bad flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kopf
from click.testing import CliRunner

from ott_operator.cli import operator
from ott_operator.handlers.deletion import final_usage_record
from ott_operator.handlers.regulationset import compile_set
from ott_operator.inputs import regulation_sets
from ott_operator.settings import OperatorSettings

RULE = {
    "id": "ad-too-long",
    "severity": "low",
    "appliesTo": ["ad.impression"],
    "when": "event.ad.durationSeconds > params.limit",
    "message": "ad too long",
    "reference": "test 1",
}


def _set(name: str = "ads", **rule: Any) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "RegulationSet",
        "metadata": {"name": name, "generation": 3},
        "spec": {
            "jurisdiction": "EU",
            "version": "1",
            "parameters": {"limit": 30},
            "rules": [{**RULE, **rule}],
        },
        "usedBy": ["acme"],
    }


def test_a_good_set_compiles() -> None:
    condition, count = compile_set(_set())
    assert (condition.status, condition.reason, count) == (True, "Compiled", 1)


def test_a_bad_rule_names_its_id_and_position() -> None:
    condition, count = compile_set(_set(when="event.ad.durationSeconds >"))
    assert (condition.status, condition.reason, count) == (False, "RuleCompileError", 1)
    assert condition.message.startswith("rule ad-too-long at line 1, column ")


def test_a_mistyped_event_field_fails_compiled_with_the_closest_path() -> None:
    condition, _ = compile_set(_set(when="event.ad.durationSecs > params.limit"))
    assert (condition.status, condition.reason) == (False, "RuleCompileError")
    assert condition.message == (
        "rule ad-too-long at line 1, column 7: unknown event field 'ad.durationSecs': no "
        "ad.impression event has it (did you mean ad.durationSeconds?); a platform's own "
        "field can be declared in spec.eventSchema.extensions"
    )


def test_an_invalid_set_is_reported_not_raised() -> None:
    condition, count = compile_set(_set(severity="extreme"))
    assert (condition.status, condition.reason, count) == (False, "InvalidSpec", 0)


def test_indexed_documents_parse_and_broken_ones_are_named() -> None:
    sets, broken = regulation_sets([_set("good"), _set("bad", severity="extreme")])
    assert list(sets) == ["good"]
    assert len(broken) == 1
    assert broken[0].startswith("RegulationSet bad is invalid")


def test_final_usage_record_outlives_the_tenant() -> None:
    body = kopf.Body(
        {
            "metadata": {"name": "acme", "uid": "1234567890ab"},
            "spec": {"plan": "enterprise"},
            "status": {"usage": {"period": "2026-01", "events": 12, "apiCalls": 3}},
        }
    )
    record = final_usage_record(OperatorSettings(), "acme", "1234567890ab", body)
    assert record["metadata"]["name"] == "usage-acme-12345678"
    assert record["metadata"]["namespace"] == "ott-compliance-system"
    assert "ownerReferences" not in record["metadata"]
    usage = json.loads(record["data"]["usage.json"])
    assert usage["usage"] == {"period": "2026-01", "events": 12, "apiCalls": 3}
    assert (usage["tenant"], usage["plan"], usage["currency"]) == ("acme", "enterprise", "EUR")


def test_cli_refuses_contradicting_scope_flags() -> None:
    result = CliRunner().invoke(operator, ["--namespace", "x", "--all-namespaces"])
    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_cli_reports_a_bad_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("gatewayMode: nginx\n")
    result = CliRunner().invoke(operator, ["--settings", str(path)])
    assert result.exit_code == 1
    assert "invalid operator settings" in result.output
