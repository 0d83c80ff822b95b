"""`ottc test`: rule tests beside RegulationSets, run through the rules and the windows,
with pytest-like output, a non-zero exit on failure, JUnit XML and rule coverage."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import yaml
from click.testing import CliRunner

from ott_runtime.cli.rule_test import rule_test

REPO = Path(__file__).resolve().parents[4]
SET = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "ads"},
    "spec": {
        "jurisdiction": "EU",
        "version": "1",
        "parameters": {"perHour": 90},
        "aggregates": [{"name": "adSeconds", "of": "ad.impression", "field": "ad.durationSeconds",
                        "fn": "sum", "window": "1h", "groupBy": ["content.channelId"]}],
        "rules": [
            {"id": "hourly", "severity": "high", "appliesTo": ["ad.impression"],
             "when": "aggregates.adSeconds > params.perHour",
             "message": "{{aggregates.adSeconds}} s of ads in an hour", "reference": "r"},
            {"id": "targeted", "severity": "low", "appliesTo": ["ad.impression"],
             "when": "event.ad.targeted", "message": "targeted", "reference": "r"},
        ],
    },
}  # fmt: skip
AD = {"type": "ad.impression", "content": {"channelId": "ch1"}, "ad": {"durationSeconds": 30}}


def rule_test_document(cases: list[dict[str, object]]) -> dict[str, object]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "RuleTest",
        "metadata": {"name": "ads"},
        "spec": {"tenant": {"regulations": [{"name": "ads"}]}, "cases": cases},
    }


def write(folder: Path, cases: list[dict[str, object]]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "ads.yaml").write_text(yaml.safe_dump(SET))
    (folder / "ads.test.yaml").write_text(yaml.safe_dump(rule_test_document(cases)))
    return folder


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(rule_test, list(args))
    return result.exit_code, result.output


WINDOW_EDGE = {
    "name": "the fourth ad in an hour crosses 90 s",
    "steps": [
        {"event": AD, "repeat": 3, "fires": []},  # 30, 60, 90 s: not over
        {"event": AD, "fires": ["hourly"], "message": "120 s of ads"},
        {"event": {**AD, "time": "2026-11-26T12:00:00Z"}, "fires": []},  # the window moved on
    ],
}


def test_the_catalog_passes_with_every_rule_covered() -> None:
    code, out = run(str(REPO / "examples" / "regulationsets"), "--require-coverage")
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("90 passed, 0 failed, 0 rules not covered")


def test_a_window_edge_passes_and_is_reported_per_case(tmp_path: Path) -> None:
    code, out = run(str(write(tmp_path / "t", [WINDOW_EDGE])))
    assert code == 0, out
    assert "ads.test.yaml::ads::the fourth ad in an hour crosses 90 s PASSED" in out
    assert "1 passed, 0 failed" in out


def test_a_wrong_expectation_fails_naming_the_step(tmp_path: Path) -> None:
    case = {"name": "too early", "steps": [{"event": AD, "repeat": 2, "fires": ["ads/hourly"]}]}
    junit = tmp_path / "rules.xml"
    code, out = run(str(write(tmp_path / "t", [case, WINDOW_EDGE])), "--junit-xml", str(junit))
    assert code == 1
    assert "ads::too early FAILED" in out
    assert "step 1 (event case-1): expected ['ads/hourly'] to fire, got none" in out
    assert "1 passed, 1 failed" in out
    suite = ElementTree.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    assert suite.find("testcase/failure") is not None


def test_a_rule_without_cases_is_reported_under_require_coverage(tmp_path: Path) -> None:
    folder = write(tmp_path / "t", [WINDOW_EDGE])
    assert run(str(folder))[0] == 0  # coverage is only asked for with the flag
    code, out = run(str(folder), "--require-coverage")
    assert code == 1
    assert "not covered: ads/targeted: no firing case" in out
    assert "0 failed, 1 rules not covered" in out


def test_an_unknown_rule_and_an_invalid_event_fail_clearly(tmp_path: Path) -> None:
    cases = [
        {"name": "typo", "steps": [{"event": AD, "fires": ["hourli"]}]},
        {"name": "bad event", "steps": [{"event": {**AD, "ad": {"durationSeconds": -5}},
                                         "fires": []}]},
    ]  # fmt: skip
    code, out = run(str(write(tmp_path / "t", cases)))
    assert code == 1
    assert "no rule 'hourli' in this tenant's rules" in out
    assert "not a valid event: ad.durationSeconds:" in out


def test_an_invalid_test_document_names_file_line_and_column(tmp_path: Path) -> None:
    folder = write(tmp_path / "t", [WINDOW_EDGE])
    document = rule_test_document([{"name": "x", "steps": [{"event": AD, "repeats": 2}]}])
    (folder / "ads.test.yaml").write_text(yaml.safe_dump(document))
    code, out = run(str(folder))
    assert code == 1
    assert "invalid RuleTest documents" in out
    assert "ads.test.yaml:" in out
    assert "Extra inputs are not permitted" in out
