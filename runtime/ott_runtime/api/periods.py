"""The ``period`` query parameter of reports and usage, as a dependency: the UTC range it
names (``domain.instants.parse_period``) or a 400 problem naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query

from ott_runtime.api.problems import Problem
from ott_runtime.domain.instants import MONTH_HELP, PERIOD_HELP, Period, parse_period


def _period(text: str, *, months_only: bool) -> Period:
    try:
        return parse_period(text, datetime.now(UTC), months_only=months_only)
    except ValueError as error:
        raise Problem(
            400, "Invalid period", f"period {error}", "invalid-period",
            errors=[{"index": None, "field": "query.period", "message": str(error)}],
        ) from None  # fmt: skip


def report_period(
    period: Annotated[str, Query(max_length=16, description=PERIOD_HELP)] = "last-30d",
) -> Period:
    return _period(period, months_only=False)


def usage_month(
    period: Annotated[
        str | None,
        Query(pattern=r"^\d{4}-\d{2}$", description=f"{MONTH_HELP}; default: this month."),
    ] = None,
) -> Period:
    return _period(period or datetime.now(UTC).strftime("%Y-%m"), months_only=True)


ReportPeriod = Annotated[Period, Depends(report_period)]
UsageMonth = Annotated[Period, Depends(usage_month)]
