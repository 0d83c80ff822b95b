"""Timestamps and durations: ``timestamp(text)`` with its getters, and the comparisons
rules make (``timestamp(a) < timestamp(b)``, ``timestamp(a) - timestamp(b) > duration('12h')``).

Only those shapes are native; a timestamp or duration anywhere else is ``Unsupported``.
Both sides of a comparison become integer nanoseconds: the library keeps nanoseconds and
compares instants across UTC offsets, while its getters read the time as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import cel

from ott_runtime.domain.celnative.closures import ORDERINGS, Const, Env, Fn, fold
from ott_runtime.domain.celnative.parser import Binary, Call, Literal, Node, Unsupported
from ott_runtime.domain.celnative.values import NeedsLibrary, function_error, undefined

_MICROSECOND = timedelta(microseconds=1)


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


@lru_cache(maxsize=4096)
def _parse_timestamp(text: str) -> tuple[datetime, int, int] | str:
    """(the time as written, its nanoseconds, the instant in nanoseconds since the epoch)
    of an RFC 3339 text, or the error's detail.

    The library's getters read the time in the text's own UTC offset (the CEL
    specification says UTC): 20:04+02:00 gives getHours() 20, so the offset is
    validated and otherwise ignored."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return "input contains invalid characters"
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, sign, offset_hours, offset_minutes = match.groups()[6:]
    if second == 60 or year == 0:
        raise NeedsLibrary  # a leap second or year 0: the library's own arithmetic
    if hour > 23 or minute > 59 or second > 59:
        return "input is out of range"
    if sign is not None and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        return "input is out of range"
    try:
        written = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return "input is out of range"
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    offset = 0
    if sign is not None:
        offset = (int(offset_hours) * 60 + int(offset_minutes)) * 60
        offset = offset if sign == "+" else -offset
    since_epoch = written - _EPOCH
    seconds = since_epoch.days * 86_400 + since_epoch.seconds - offset
    return written, nanos, seconds * 1_000_000_000 + nanos


_EPOCH = datetime(1970, 1, 1)


def _parsed(text: Any) -> tuple[datetime, int, int]:
    if type(text) is not str:
        raise undefined("timestamp")
    parsed = _parse_timestamp(text)
    if isinstance(parsed, str):
        raise function_error("timestamp", f"{parsed}. Check function arguments and their types.")
    return parsed


def timestamp_instant(text: Any) -> int:
    """``timestamp(text)`` as nanoseconds since the epoch (the library compares instants)."""
    return _parsed(text)[2]


GETTERS = frozenset(
    {
        "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfYear",
        "getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip


def timestamp_part(text: Any, getter: str) -> int:
    """``timestamp(text).getter()`` (in the text's own offset, as the library reads it)."""
    moment, nanos, _ = _parsed(text)
    if getter == "getHours":
        return moment.hour
    if getter == "getMinutes":
        return moment.minute
    if getter == "getSeconds":
        return moment.second
    if getter == "getMilliseconds":
        return nanos // 1_000_000
    if getter == "getFullYear":
        return moment.year
    if getter == "getMonth":
        return moment.month - 1
    if getter == "getDate":
        return moment.day
    if getter == "getDayOfMonth":
        return moment.day - 1
    if getter == "getDayOfYear":
        return moment.timetuple().tm_yday - 1
    return (moment.weekday() + 1) % 7  # getDayOfWeek: Sunday is 0


def temporal_kind(node: Node) -> str | None:
    if isinstance(node, Call) and node.target is None and len(node.args) == 1:
        if node.function == "timestamp":
            return "timestamp"
        if node.function == "duration":
            return "duration"
    if not isinstance(node, Binary) or node.op != "-":
        return None
    difference = temporal_kind(node.left) == temporal_kind(node.right) == "timestamp"
    return "duration" if difference else None


def _temporal(node: Node, compile_node: Callable[[Node], Fn]) -> Fn:
    """A timestamp or duration expression as a closure giving nanoseconds."""
    if isinstance(node, Binary):  # timestamp - timestamp
        left = _temporal(node.left, compile_node)
        right = _temporal(node.right, compile_node)

        def difference(env: Env) -> int:
            later: int = left(env)
            return later - int(right(env))

        return difference
    assert isinstance(node, Call)
    (arg,) = node.args
    if node.function == "timestamp":
        text = compile_node(arg)
        return lambda env: timestamp_instant(text(env))
    return Const(_duration_nanos(arg))


def _duration_nanos(arg: Node) -> int:
    """A constant duration's nanoseconds, read by the library itself (its syntax is its
    own) and confirmed exact: the library hands durations back at microsecond precision."""
    if not isinstance(arg, Literal) or type(arg.value) is not str:
        raise Unsupported("duration() of anything but a string constant")
    text = arg.value
    try:
        value = cel.evaluate("duration(text)", cel.Context(variables={"text": text}))
        nanos = (value // _MICROSECOND) * 1000
        exact = cel.evaluate(
            "duration(text) == duration(nanos)",
            cel.Context(variables={"text": text, "nanos": f"{nanos}ns"}),
        )
    except Exception as error:
        raise Unsupported(f"duration({text!r}): {error}") from None
    if exact is not True:
        raise Unsupported(f"duration({text!r}) is finer than a microsecond")
    return int(nanos)


def temporal_relation(
    op: str,
    left_node: Node,
    right_node: Node,
    kinds: tuple[str | None, str | None],
    compile_node: Callable[[Node], Fn],
) -> Fn:
    if kinds[0] != kinds[1]:
        raise Unsupported("a timestamp or duration compared with another type")
    left = _temporal(left_node, compile_node)
    right = _temporal(right_node, compile_node)
    test = ORDERINGS.get(op) or ((lambda a, b: a == b) if op == "==" else (lambda a, b: a != b))

    def relation(env: Env) -> bool:
        a = left(env)
        return test(a, right(env))

    return fold(relation, left, right)
