"""Instants and periods as clients send them, checked once for every entry point.

An instant is RFC 3339 text with an offset whose UTC form lies in the years 0001-9999:
``9999-12-31T23:59:59-14:00`` is a valid local time but no ``datetime`` (nor the database
layer, which stores UTC) can hold it in UTC, so it is refused as bad input instead of
failing deep in storage. Events (``domain.events``), the REST query parameters and the
GraphQL ``DateTime`` scalar all use :data:`Instant` / :func:`parse_instant`.

A period (``last-24h``, ``2026-11``, ``2026-11-26``) becomes a half-open UTC range
[start, end); one whose end is past the last representable instant is refused too.
Arithmetic near the ends goes through :func:`shift`, which stops at them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
)

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
RFC3339_HELP = "must be an RFC 3339 timestamp with offset, e.g. 2026-11-26T14:00:00Z"
RANGE_HELP = "out of range: in UTC it must fall in the years 0001 to 9999"
PERIOD_HELP = "last-24h, last-7d, last-30d, a month (2026-11) or a day (2026-11-26)"
MONTH_HELP = "a month such as 2026-11"
PERIOD_RANGE_HELP = "out of range: the period must end by 9999-12-31T23:59:59Z"


def _rfc3339(value: Any) -> Any:
    # strict like the CRDs, but a timestamp arrives as a string: exactly RFC 3339 text,
    # never epoch numbers or a date alone
    if isinstance(value, datetime) or (isinstance(value, str) and RFC3339.fullmatch(value)):
        return value
    raise ValueError(RFC3339_HELP)


def in_range(value: datetime) -> datetime:
    """``value`` unchanged if its UTC form exists; ValueError otherwise."""
    if 1 < value.year < 9999:  # an offset is under a day: only the end years can overflow
        return value
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(RANGE_HELP) from None
    return value


# the offset the sender gave is kept (rules may read local time); only the range is checked
Instant = Annotated[
    AwareDatetime, Field(strict=False), BeforeValidator(_rfc3339), AfterValidator(in_range)
]
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def parse_instant(value: Any) -> datetime:
    """An :data:`Instant` from text (or an aware datetime); ValueError with the reason."""
    try:
        return _INSTANT.validate_python(value)
    except ValidationError as error:
        reason = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ValueError(reason) from None


def shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, stopping at the first or last representable instant."""
    try:
        return moment + delta
    except OverflowError:
        return EARLIEST if delta < timedelta(0) else LATEST


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime  # exclusive


def _month_end(start: datetime) -> datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)  # ValueError after 9999
    return start.replace(month=start.month + 1)


def parse_period(text: str, now: datetime, *, months_only: bool = False) -> Period:
    """The UTC range of a report period (or, with ``months_only``, a usage month);
    ValueError saying what is accepted."""
    help_text = MONTH_HELP if months_only else PERIOD_HELP
    rolling = None if months_only else re.fullmatch(r"last-(\d{1,3})([hd])", text)
    if rolling:
        amount, unit = int(rolling.group(1)), rolling.group(2)
        span = timedelta(hours=amount) if unit == "h" else timedelta(days=amount)
        return Period(text, shift(now, -span), now)
    month = re.fullmatch(r"(\d{4})-(\d{2})", text)
    day = None if months_only else re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    found = month or day
    if found is None:
        raise ValueError(f"{text!r}: use {help_text}")
    parts = [int(part) for part in found.groups()]
    try:
        start = datetime(parts[0], parts[1], parts[2] if day else 1, tzinfo=UTC)
    except ValueError:  # no such month or day (2026-13, 2026-02-30, year 0)
        raise ValueError(f"{text!r}: use {help_text}") from None
    try:
        end = start + timedelta(days=1) if day else _month_end(start)
    except (ValueError, OverflowError):  # 9999-12 ends in the year 10000
        raise ValueError(f"{text}: {PERIOD_RANGE_HELP}") from None
    return Period(text, start, end)
