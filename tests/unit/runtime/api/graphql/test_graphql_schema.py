"""The checked-in schema.graphql is the code's schema; depth and cost limits; the
statistical forecast."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from ott_runtime.api.graphql.limits import MAX_COST, MAX_FIRST, selection_cost
from ott_runtime.api.graphql.schema import schema
from ott_runtime.cli import cli
from ott_runtime.cli.graphql_schema import schema_text
from ott_runtime.domain.forecast import holt

REPO = Path(__file__).resolve().parents[5]


def test_checked_in_schema_matches_the_code() -> None:
    checked_in = (REPO / "schema.graphql").read_text()
    assert checked_in == schema_text(), (
        "schema.graphql is stale: ottc graphql-schema -o schema.graphql"
    )


def test_check_command_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text(schema_text().replace("riskAlerts", "riskAlarms"))
    result = CliRunner().invoke(cli, ["graphql-schema", "-o", str(stale), "--check"])
    assert result.exit_code == 1
    assert "stale" in result.output
    assert CliRunner().invoke(cli, ["graphql-schema", "-o", str(stale)]).exit_code == 0
    assert CliRunner().invoke(cli, ["graphql-schema", "-o", str(stale), "--check"]).exit_code == 0


def _cost(query: str) -> int:
    document = parse(query)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return selection_cost(operation.selection_set, fragments)


def test_cost_multiplies_fields_by_page_sizes() -> None:
    assert _cost("{ tenant { id plan } }") == 3
    # violations(1) + 10 x (edges(1) + node(1) + id(1)) = 31
    assert _cost("{ violations(first: 10) { edges { node { id } } } }") == 31
    fragment = (
        "query Q { violations(first: 10) { ...V } }"
        " fragment V on ViolationConnection { edges { node { id } } }"
    )
    assert _cost(fragment) == 31
    variable = "query Q($n: Int!) { violations(first: $n) { edges { cursor } } }"
    assert _cost(variable) == 1 + MAX_FIRST * 2  # unknown at validation: the largest page


async def test_too_deep_and_too_costly_queries_are_refused_before_running() -> None:
    deep = "{ violations { edges { node { event { violations { event { violations { " + (
        "event { violations { event { violations { event { id } } } } } } } } } } } } }"
    )
    result = await schema.execute(deep)
    assert result.errors is not None
    assert "exceeds maximum operation depth of 10" in result.errors[0].message

    fields = "id type payload occurredAt receivedAt contentId maxSeverity keyVersion"
    page = f"events(first: 500) {{ edges {{ node {{ {fields} }} }} }}"
    costly = f"query Wide {{ a: {page} b: {page} }}"
    result = await schema.execute(costly)
    assert result.errors is not None
    assert result.errors[0].message.startswith(f"Wide costs {_cost(costly)}, over the limit of")
    assert result.errors[0].extensions == {
        "code": "QUERY_TOO_COSTLY",
        "cost": _cost(costly),
        "limit": MAX_COST,
    }


def test_forecast_follows_a_trend_and_its_band_widens() -> None:
    series = [float(2 * i) for i in range(24)]  # a clean upward trend
    fitted = holt(series, 6)
    assert fitted.forecast[0] == pytest.approx(48, abs=1)
    assert fitted.forecast[5] > fitted.forecast[0]
    noisy = [10.0 + (3 if i % 2 else -3) for i in range(48)]
    band = holt(noisy, 4)
    widths = [u - lo for u, lo in zip(band.upper, band.lower, strict=True)]
    assert widths[0] > 0
    assert widths == sorted(widths)
    assert all(lo <= f <= u for lo, f, u in zip(band.lower, band.forecast, band.upper, strict=True))
    assert holt([], 3).forecast == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="horizon"):
        holt([1.0], -1)
