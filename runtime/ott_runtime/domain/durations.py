"""Go-style durations as Kubernetes users write them (``90s``, ``1h30m``), plus days and weeks."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

DURATION_PATTERN = r"^([1-9][0-9]*(ms|s|m|h|d|w))+$"
"""Every part is a positive whole number and a unit, so a duration is never zero.

The CRDs use this very pattern for every duration field (a test checks they agree); it is
written for Go's RE2, ECMAScript and Python alike (no look-arounds, no flags)."""
DURATION_MAX_LENGTH = 32
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse ``"720h"`` or ``"1h30m"`` into a timedelta; raise ValueError on anything else."""
    if len(text) > DURATION_MAX_LENGTH or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"invalid duration {text!r}: use whole numbers with units ms, s, m, h, d or w, "
            "e.g. 90s, 15m, 1h30m, 720h, 90d, 2w"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling in whole seconds: ``timedelta(hours=1)`` -> ``1h``."""
    remaining = int(value.total_seconds())
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        size = int(_UNIT_SECONDS[unit])
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _check(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    StringConstraints(max_length=DURATION_MAX_LENGTH, pattern=DURATION_PATTERN),
    AfterValidator(_check),
]
"""A duration kept as written (so documents round-trip) but checked on parse."""
