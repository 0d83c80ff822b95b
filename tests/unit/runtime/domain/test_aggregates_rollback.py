"""WindowAggregator.begin/rollback: undoing a batch leaves exactly the windows it found,
whatever the batch did to them (late events, expiry, the entry and group bounds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.regulation import Aggregate

START = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
FUNCTIONS = ("sum", "count", "avg", "max", "distinct")


def _windows(max_groups: int = 50_000, max_entries: int = 200_000) -> WindowAggregator:
    specs = [
        Aggregate.model_validate(
            {
                "name": fn,
                "of": "ad.impression",
                "window": "1h",
                "fn": fn,
                "groupBy": ["content.channelId"],
                **({} if fn == "count" else {"field": "ad.durationSeconds"}),
            }
        )
        for fn in FUNCTIONS
    ]
    return WindowAggregator({"ads": specs}, max_groups=max_groups, max_entries=max_entries)


def _ad(minute: float, seconds: float | None, channel: str) -> dict[str, Any]:
    """An ad; without seconds only the count takes it, the others just expire (reads)."""
    at = START + timedelta(minutes=minute)
    return {
        "type": "ad.impression",
        "time": at.isoformat(),
        "content": {"channelId": channel},
        "ad": {} if seconds is None else {"durationSeconds": seconds},
    }


def _state(windows: WindowAggregator) -> list[dict[Any, Any]]:
    """Every series' groups with their entries and running state (group order aside)."""
    return [
        {
            key: (list(w.entries), w.total, dict(w.counts), w.newest)
            for key, w in series.groups.items()
        }
        for series in windows._series
    ]


EVENTS = st.lists(
    st.tuples(
        st.floats(0, 300, allow_nan=False),  # minutes: late events and expiry
        st.sampled_from([1.0, 2.5, 30.0, 0.1, None]),
        st.sampled_from(["a", "b", "c", "d", "e"]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(before=EVENTS, batch=EVENTS, max_groups=st.integers(1, 6), max_entries=st.integers(1, 8))
def test_rollback_restores_every_window_exactly(
    before: list[tuple[float, float | None, str]],
    batch: list[tuple[float, float | None, str]],
    max_groups: int,
    max_entries: int,
) -> None:
    windows = _windows(max_groups, max_entries)
    for event in sorted(before, key=lambda event: event[0]):
        windows.observe(_ad(*event))
    kept = _state(windows)
    windows.begin()
    for event in batch:
        windows.observe(_ad(*event))
    windows.rollback()
    assert _state(windows) == kept


def test_after_a_rollback_the_windows_answer_as_if_the_batch_never_came() -> None:
    fed, never = _windows(), _windows()
    for windows in (fed, never):
        windows.observe(_ad(0, 30, "kids"))
        windows.observe(_ad(10, 20, "kids"))
    fed.begin()
    fed.observe(_ad(5, 99, "kids"))  # late
    fed.observe(_ad(200, 1, "kids"))  # expires the others
    fed.observe(_ad(1, 1, "news"))  # a new group
    fed.rollback()
    probe = _ad(30, 10, "kids")
    assert fed.observe(probe) == never.observe(probe)
    assert fed.observe(_ad(31, 1, "news")) == never.observe(_ad(31, 1, "news"))


def test_commit_keeps_the_batch_and_stops_journalling() -> None:
    windows = _windows()
    windows.begin()
    windows.observe(_ad(0, 30, "kids"))
    windows.commit()
    windows.rollback()  # nothing journalled any more: a no-op
    assert windows.observe(_ad(1, 10, "kids"))["ads"]["sum"] == 40.0
