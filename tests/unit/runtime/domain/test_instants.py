"""Instants and periods clients send: RFC 3339 with an offset whose UTC form exists,
periods whose end can be held, and arithmetic that stops at the ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ott_runtime.domain.events import parse_event
from ott_runtime.domain.instants import EARLIEST, LATEST, parse_instant, parse_period, shift
from ott_runtime.ingest.schemas import event_validators

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
OUT_OF_RANGE = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_an_instant_whose_utc_form_leaves_the_years_1_to_9999_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_instant(text)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("9999-12-31T23:59:59Z", LATEST.replace(microsecond=0)),
        ("9999-12-31T23:59:59+14:00", datetime(9999, 12, 31, 9, 59, 59, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", EARLIEST),
        ("0001-01-01T10:00:00+10:00", EARLIEST),
    ],
)
def test_the_ends_of_the_range_are_accepted_with_their_offset_kept(
    text: str, utc: datetime
) -> None:
    moment = parse_instant(text)
    assert moment == utc
    assert moment.isoformat().endswith(text[-6:] if text[-1] != "Z" else "+00:00")


@pytest.mark.parametrize("text", ["2026-11-26T14:00:00", "2026-11-26", "1700000000", 5])
def test_only_rfc_3339_with_an_offset_is_an_instant(text: Any) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_instant(text)


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("time", None),
        ("content.licence.windowEnd", ("content", {"licence": {}})),
        ("content.usTvAirTime", ("content", {})),
    ],
)
@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_events_refuse_out_of_range_times_naming_the_field(
    text: str, path: str, where: tuple[str, dict[str, Any]] | None
) -> None:
    event: dict[str, Any] = {
        "specVersion": "1",
        "id": "e1",
        "type": "content.publish",
        "time": "2026-11-26T14:00:00Z",
        "content": {"id": "show-1"},
    }
    parent = event
    for part in path.split(".")[:-1]:
        parent = parent.setdefault(part, {})
    parent[path.split(".")[-1]] = text
    problems = event_validators()["content.publish"](event)
    assert isinstance(problems, list)
    assert [(field, "out of range" in message) for field, message in problems] == [(path, True)]
    with pytest.raises(ValueError, match="out of range"):
        parse_event(event)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)),
        ("9999-11", datetime(9999, 11, 1, tzinfo=UTC), datetime(9999, 12, 1, tzinfo=UTC)),
        ("9999-12-30", datetime(9999, 12, 30, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)),
        ("0001-01", EARLIEST, datetime(1, 2, 1, tzinfo=UTC)),
        ("last-24h", NOW - timedelta(hours=24), NOW),
        ("last-7d", NOW - timedelta(days=7), NOW),
    ],
)
def test_periods_are_half_open_utc_ranges(text: str, start: datetime, end: datetime) -> None:
    period = parse_period(text, NOW)
    assert (period.label, period.start, period.end) == (text, start, end)


@pytest.mark.parametrize("text", ["9999-12", "9999-12-31"])
def test_a_period_that_ends_after_the_last_instant_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_period(text, NOW)


@pytest.mark.parametrize("text", ["2026-13", "2026-02-30", "0000-01", "last-1w", "26-11", ""])
def test_a_period_that_is_no_month_day_or_rolling_span_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="use last-24h"):
        parse_period(text, NOW)


def test_usage_takes_months_only() -> None:
    assert parse_period("2026-11", NOW, months_only=True).end == datetime(2026, 12, 1, tzinfo=UTC)
    for text in ("2026-11-26", "last-24h"):
        with pytest.raises(ValueError, match="a month such as"):
            parse_period(text, NOW, months_only=True)


def test_shift_stops_at_the_ends() -> None:
    assert shift(EARLIEST + timedelta(hours=1), -timedelta(days=1)) == EARLIEST
    assert shift(LATEST - timedelta(hours=1), timedelta(days=1)) == LATEST
    assert shift(NOW, timedelta(hours=1)) == NOW + timedelta(hours=1)
