"""Sliding-window aggregates (sum, count, avg, max, distinct) that rules read.

Each Aggregate of a tenant's resolved sets keeps, per ``groupBy`` key, the entries of
its window in time order. Events are fed in time order (``observe``); a window is the
half-open interval (now - window, now]: an entry exactly one window old has left it.
Memory is bounded: at most ``max_entries`` entries per group (the oldest go first) and
``max_groups`` groups per aggregate (the least recently fed group goes first).

Value types are fixed so rules can do arithmetic without casts: sum, avg and max are
doubles; count and distinct are ints. An empty window reads as 0.

Between ``begin()`` and ``commit()`` every change is journalled (a few small tuples per
event), so that ``rollback()`` undoes the batch the pipeline failed to commit in time
proportional to that batch, not to the windows or the stored history.
"""

from __future__ import annotations

import bisect
import operator
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cel

from ott_runtime.domain.cel_expressions import event_paths, rewrite_roots, trim_event_paths
from ott_runtime.domain.celnative import NativeProgram, NeedsLibrary, native_or_none
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.regulation import Aggregate, AggregateFn
from ott_runtime.domain.resolution import ResolvedRules

_MISSING = object()
_entry_time = operator.itemgetter(0)
# (undo function, its arguments...) in the order the changes were made
_Journal = list[tuple[Any, ...]]


def field_value(event: Mapping[str, Any], path: str | tuple[str, ...]) -> Any:
    """The value at a dotted path (or its parts, split once by the caller), or ``_MISSING``."""
    value: Any = event
    for part in path.split(".") if isinstance(path, str) else path:
        if type(value) is dict:  # the usual case, without the slower Mapping (ABC) check
            if part not in value:
                return _MISSING
        elif not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def event_seconds(event: Mapping[str, Any]) -> float:
    """Epoch seconds of ``event["time"]`` (RFC 3339 text or a datetime)."""
    time = event.get("time")
    if isinstance(time, datetime):
        return time.timestamp()
    try:
        return datetime.fromisoformat(str(time)).timestamp()
    except ValueError:
        raise ValueError(f"event time {time!r} is not an RFC 3339 timestamp") from None


@dataclass
class _Window:
    """One group's window: (time, value) entries in time order plus running state."""

    entries: deque[tuple[float, Any]] = field(default_factory=deque)
    total: float = 0.0
    counts: Counter[Any] = field(default_factory=Counter)
    newest: float = float("-inf")

    def feed(
        self,
        at: float,
        value: Any,
        fn: AggregateFn,
        keep_for: float,
        keep_at_most: int,
        journal: _Journal | None,
    ) -> None:
        """Adds an entry, then drops what left the window; one journal record for both."""
        newest, total, entries = self.newest, self.total, self.entries
        if at >= newest:
            index = len(entries)
            entries.append((at, value))
            self.newest = at
        else:  # a late event: keep time order (a binary search over the deque itself:
            # copying out its times cost O(window) in Python for every late event)
            index = bisect.bisect_right(entries, at, key=_entry_time)
            entries.insert(index, (at, value))
        self._account(value, fn, +1)
        gone = self._drop(self.newest - keep_for, fn, keep_at_most)
        if journal is not None:
            journal.append((_undo_feed, self, index, newest, total, gone, value, fn))

    def expire(
        self, before: float, fn: AggregateFn, keep_at_most: int, journal: _Journal | None
    ) -> None:
        total = self.total
        gone = self._drop(before, fn, keep_at_most)
        if gone is not None and journal is not None:
            journal.append((_undo_expire, self, gone, total, fn))

    def _drop(
        self, before: float, fn: AggregateFn, keep_at_most: int
    ) -> list[tuple[float, Any]] | None:
        """Removes the entries at or before ``before`` and over the bound; those removed."""
        entries = self.entries
        if not entries or (entries[0][0] > before and len(entries) <= keep_at_most):
            return None  # the usual case for a read: nothing leaves
        gone = []
        while entries and (entries[0][0] <= before or len(entries) > keep_at_most):
            entry = entries.popleft()
            gone.append(entry)
            self._account(entry[1], fn, -1)
        if not entries:
            self.total = 0.0  # no float drift carried over an empty window
        return gone

    def _account(self, value: Any, fn: AggregateFn, sign: int) -> None:
        if fn in (AggregateFn.SUM, AggregateFn.AVG):
            self.total += sign * float(value)
        elif fn is AggregateFn.DISTINCT:
            self.counts[value] += sign
            if self.counts[value] <= 0:
                del self.counts[value]

    def _recount(self, values: Any, fn: AggregateFn, sign: int) -> None:
        """Undo's half of ``_account``: the total is restored whole, the counts are not."""
        if fn is AggregateFn.DISTINCT:
            for value in values:
                self._account(value, fn, sign)

    def value(self, fn: AggregateFn) -> float | int:
        if fn is AggregateFn.COUNT:
            return len(self.entries)
        if fn is AggregateFn.SUM:
            return self.total
        if fn is AggregateFn.AVG:
            return self.total / len(self.entries) if self.entries else 0.0
        if fn is AggregateFn.DISTINCT:
            return len(self.counts)
        return max((float(v) for _, v in self.entries), default=0.0)


def _undo_feed(
    window: _Window,
    index: int,
    newest: float,
    total: float,
    gone: list[tuple[float, Any]] | None,
    value: Any,
    fn: AggregateFn,
) -> None:
    if gone:  # first the entries it dropped: the added one's index counts them
        window.entries.extendleft(reversed(gone))
        window._recount((v for _, v in gone), fn, +1)
    del window.entries[index]
    window._recount((value,), fn, -1)
    window.newest, window.total = newest, total  # exactly as before: no float drift


def _undo_expire(
    window: _Window, gone: list[tuple[float, Any]], total: float, fn: AggregateFn
) -> None:
    window.entries.extendleft(reversed(gone))
    window._recount((v for _, v in gone), fn, +1)
    window.total = total


def _empty(fn: AggregateFn) -> float | int:
    return 0 if fn in (AggregateFn.COUNT, AggregateFn.DISTINCT) else 0.0


@dataclass
class _Series:
    regulation: str
    spec: Aggregate
    seconds: float
    where: cel.Program | None
    # the filter evaluated natively on the plain event (None: the library only)
    where_native: NativeProgram | None
    groups: OrderedDict[tuple[Any, ...], _Window] = field(default_factory=OrderedDict)
    # groupBy and field paths split once: key() and add() run for every event
    group_paths: tuple[tuple[str, ...], ...] = ()
    field_path: tuple[str, ...] | None = None
    group_index: int = 0  # series with the same groupBy share one key per event

    def __post_init__(self) -> None:
        self.group_paths = tuple(tuple(path.split(".")) for path in self.spec.group_by)
        if self.spec.field is not None:
            self.field_path = tuple(self.spec.field.split("."))

    def key(self, event: Mapping[str, Any]) -> tuple[Any, ...] | None:
        return _group_key(event, self.group_paths)


def _group_key(
    event: Mapping[str, Any], group_paths: tuple[tuple[str, ...], ...]
) -> tuple[Any, ...] | None:
    """The event's group for a groupBy (None: it lacks a field, or one is not a scalar)."""
    values = []
    for path in group_paths:
        value = field_value(event, path)
        if value is _MISSING or isinstance(value, dict | list):
            return None
        values.append(value)
    return tuple(values)


_UNKEYED: Any = object()  # a group key not computed yet for this event


def _put_first(groups: OrderedDict[tuple[Any, ...], _Window], key: Any, window: _Window) -> None:
    """Undoes dropping the least recently fed group (it was first)."""
    groups[key] = window
    groups.move_to_end(key, last=False)


class WindowAggregator:
    """The windows of one tenant's aggregates; not thread-safe (one per tenant worker)."""

    def __init__(
        self,
        aggregates: Mapping[str, tuple[Aggregate, ...] | list[Aggregate]],
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        max_groups: int = 50_000,
        max_entries: int = 200_000,
    ) -> None:
        parameters = parameters or {}
        self.max_groups = max_groups
        self.max_entries = max_entries
        self._by_type: dict[str, list[_Series]] = {}
        self._paths: dict[str, dict[str, frozenset[str] | None] | None] = {}
        self._series: list[_Series] = []
        self._group_paths: list[tuple[tuple[str, ...], ...]] = []
        for regulation, specs in aggregates.items():
            constants = {"params": dict(parameters.get(regulation, {}))}
            for spec in specs:
                where = where_native = None
                if spec.where is not None:
                    # Parameters are inlined: the context then holds only the event.
                    where = cel.compile(rewrite_roots(spec.where, {}, constants))
                    where_native = native_or_none(where.source)
                seconds = parse_duration(spec.window).total_seconds()
                series = _Series(regulation, spec, seconds, where, where_native)
                if series.group_paths not in self._group_paths:
                    self._group_paths.append(series.group_paths)
                series.group_index = self._group_paths.index(series.group_paths)
                self._series.append(series)
                self._by_type.setdefault(spec.of, []).append(series)
        for event_type, series_list in self._by_type.items():
            filters = [s.spec.where for s in series_list if s.spec.where is not None]
            # the where filters read only these fields: the rest is not converted to CEL
            self._paths[event_type] = event_paths(filters)
        # values(): per regulation, in the order its series come (as the results show them)
        self._regulations = list(dict.fromkeys(series.regulation for series in self._series))
        self._journal: _Journal | None = None

    def begin(self) -> None:
        """Journal every change from now on, so that ``rollback`` can undo them."""
        self._journal = []

    def commit(self) -> None:
        """Keep the changes since ``begin`` (and stop journalling)."""
        self._journal = None

    def rollback(self) -> None:
        """Undo every change since ``begin``: the windows hold exactly the entries they
        held then. (Groups fed since then stay the most recently fed: only which group is
        dropped first once ``max_groups`` is reached can differ.)"""
        journal, self._journal = self._journal, None
        for undo, *arguments in reversed(journal or ()):
            undo(*arguments)

    @classmethod
    def for_rules(cls, resolved: ResolvedRules, **limits: int) -> WindowAggregator:
        """From a ``ResolvedRules`` (its aggregates and merged parameters)."""
        return cls(resolved.aggregates, resolved.parameters, **limits)

    def _passes(
        self, series: _Series, event: Mapping[str, Any], converted: list[cel.Context]
    ) -> bool:
        if series.where is None:
            return True
        if series.where_native is not None:
            try:  # the bare closure: errors come as CelError, without a second raise
                return series.where_native.run({"event": event}) is True
            except NeedsLibrary:
                pass  # data the native evaluator does not mirror: the library decides
            except Exception:  # CelError and any other: a filter that cannot read the
                return False  # event does not count it
        if not converted:  # convert the event once for all filters of this event
            paths = self._paths[str(event.get("type", ""))]
            converted.append(cel.Context(variables={"event": trim_event_paths(event, paths)}))
        try:
            return series.where.execute(converted[0]) is True
        except Exception:  # a filter that cannot read the event does not count it
            return False

    def add(self, event: Mapping[str, Any]) -> None:
        """Feed one event to every aggregate whose ``of`` is its type."""
        series_list = self._by_type.get(str(event.get("type", "")))
        if series_list:
            self._add(event, series_list, event_seconds(event), self._no_keys())

    def _no_keys(self) -> list[Any]:
        return [_UNKEYED] * len(self._group_paths)

    def _key(self, event: Mapping[str, Any], series: _Series, keys: list[Any]) -> Any:
        """The series' group key for this event, computed once per groupBy and event."""
        key = keys[series.group_index]
        if key is _UNKEYED:
            key = keys[series.group_index] = _group_key(event, series.group_paths)
        return key

    def _add(
        self,
        event: Mapping[str, Any],
        series_list: list[_Series],
        at: float,
        keys: list[Any],
    ) -> None:
        """``add`` with the event's time parsed; ``keys`` holds the group keys computed
        for this event (per groupBy) so that ``values`` need not compute them again."""
        converted: list[cel.Context] = []
        for series in series_list:
            fn = series.spec.fn
            value: Any = None
            if series.field_path is not None:
                value = field_value(event, series.field_path)
                if value is _MISSING or value is None:
                    continue
                if fn is not AggregateFn.DISTINCT and not isinstance(value, int | float):
                    continue
                if isinstance(value, list | dict):
                    continue
            key = self._key(event, series, keys)
            if key is None or not self._passes(series, event, converted):
                continue
            journal = self._journal
            groups = series.groups
            window = groups.get(key)
            if window is None:
                window = groups[key] = _Window()
                if journal is not None:
                    journal.append((groups.pop, key))
                if len(groups) > self.max_groups:
                    dropped = groups.popitem(last=False)
                    if journal is not None:
                        journal.append((_put_first, groups, *dropped))
            else:
                groups.move_to_end(key)
            window.feed(at, value, fn, series.seconds, self.max_entries, journal)

    def values(self, event: Mapping[str, Any]) -> dict[str, dict[str, float | int]]:
        """Per regulation, the aggregates of the event's groups as of the event's time.

        An aggregate whose groupBy fields the event lacks is left out (rules reading it
        then do not apply)."""
        return self._values(event, event_seconds(event), self._no_keys())

    def _values(
        self,
        event: Mapping[str, Any],
        at: float,
        keys: list[Any],
    ) -> dict[str, dict[str, float | int]]:
        result: dict[str, dict[str, float | int]] = {name: {} for name in self._regulations}
        max_entries = self.max_entries
        for series in self._series:
            key = self._key(event, series, keys)
            if key is None:
                continue
            fn = series.spec.fn
            window = series.groups.get(key)
            if window is None:
                result[series.regulation][series.spec.name] = _empty(fn)
                continue
            window.expire(at - series.seconds, fn, max_entries, self._journal)
            result[series.regulation][series.spec.name] = window.value(fn)
        return result

    def observe(self, event: Mapping[str, Any]) -> dict[str, dict[str, float | int]]:
        """``add`` then ``values``: the current event counts in its own windows."""
        at = event_seconds(event)
        keys = self._no_keys()
        series_list = self._by_type.get(str(event.get("type", "")))
        if series_list:
            self._add(event, series_list, at, keys)
        return self._values(event, at, keys)

    @property
    def size(self) -> int:
        """Entries held over all windows (for metrics and the memory bound)."""
        return sum(len(w.entries) for s in self._series for w in s.groups.values())
