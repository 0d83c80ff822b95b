"""Sliding-window aggregates: each function, expiry, groups, filters, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.regulation import Aggregate

START = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def spec(**fields: Any) -> Aggregate:
    return Aggregate.model_validate({"of": "ad.impression", "window": "1h", **fields})


def ad(
    minutes: float, seconds: float = 30, channel: str = "ch1", **ad_fields: Any
) -> dict[str, Any]:
    at = START + timedelta(minutes=minutes)
    return {"type": "ad.impression", "time": at.isoformat().replace("+00:00", "Z"),
            "content": {"channelId": channel},
            "ad": {"durationSeconds": seconds, **ad_fields}}  # fmt: skip


def test_each_function_over_one_window() -> None:
    specs = [
        spec(name="total", field="ad.durationSeconds", fn="sum"),
        spec(name="n", fn="count"),
        spec(name="mean", field="ad.durationSeconds", fn="avg"),
        spec(name="longest", field="ad.durationSeconds", fn="max"),
        spec(name="campaigns", field="ad.campaignId", fn="distinct"),
    ]
    windows = WindowAggregator({"ads": specs})
    windows.observe(ad(0, 30, campaignId="a"))
    windows.observe(ad(10, 60, campaignId="b"))
    values = windows.observe(ad(20, 15, campaignId="a"))["ads"]
    assert values == {"total": 105.0, "n": 3, "mean": 35.0, "longest": 60.0, "campaigns": 2}
    assert isinstance(values["total"], float)
    assert isinstance(values["n"], int)


def test_entries_leave_the_window() -> None:
    total = spec(name="total", field="ad.durationSeconds", fn="sum")
    longest = spec(name="longest", field="ad.durationSeconds", fn="max")
    windows = WindowAggregator({"ads": [total, longest]})
    windows.observe(ad(0, 100))
    windows.observe(ad(30, 20))
    assert windows.observe(ad(61, 10))["ads"] == {"total": 30.0, "longest": 20.0}
    # Reading at a later time expires without feeding.
    assert windows.values(ad(200, 0))["ads"] == {"total": 0.0, "longest": 0.0}


def test_group_by_keeps_separate_windows_and_skips_events_without_the_key() -> None:
    windows = WindowAggregator({"ads": [spec(name="total", field="ad.durationSeconds", fn="sum",
                                             groupBy=["content.channelId"])]})  # fmt: skip
    windows.observe(ad(0, 100, "ch1"))
    assert windows.observe(ad(1, 10, "ch2"))["ads"] == {"total": 10.0}
    assert windows.observe(ad(2, 5, "ch1"))["ads"] == {"total": 105.0}
    no_channel = {
        "type": "ad.impression",
        "time": "2026-11-26T06:03:00Z",
        "ad": {"durationSeconds": 1},
    }
    assert windows.observe(no_channel)["ads"] == {}


def test_where_filter_reads_event_and_params() -> None:
    windows = WindowAggregator(
        {"ads": [spec(name="targeted", fn="count",
                      where="event.ad.targeted && event.ad.durationSeconds >= params.min")]},
        {"ads": {"min": 20}},
    )  # fmt: skip
    windows.observe(ad(0, 30, targeted=True))
    windows.observe(ad(1, 10, targeted=True))
    windows.observe(ad(2, 30, targeted=False))
    windows.observe(ad(3, 30))  # no targeted field: the filter cannot read it, not counted
    assert windows.values(ad(4))["ads"] == {"targeted": 1}


def test_avmsd_daytime_window_counts_exactly_today_from_six() -> None:
    daytime = spec(name="day", field="ad.durationSeconds", fn="sum", window="12h",
                   where="timestamp(event.time).getHours() >= 6"
                         " && timestamp(event.time).getHours() < 18")  # fmt: skip
    windows = WindowAggregator({"avmsd": [daytime]})
    windows.observe(ad(-60 * 3, 500))  # 03:00, night: never counted
    windows.observe(ad(-60 * 10, 700))  # 20:00 the day before: outside the band
    windows.observe(ad(60, 100))  # 07:00
    assert windows.observe(ad(60 * 11, 50))["avmsd"] == {"day": 150.0}  # 17:00


def test_late_event_is_kept_in_time_order() -> None:
    windows = WindowAggregator({"ads": [spec(name="total", field="ad.durationSeconds", fn="sum")]})
    windows.observe(ad(50, 10))
    windows.observe(ad(5, 20))  # arrives late
    assert windows.values(ad(66))["ads"] == {"total": 10.0}  # the late one expired first


@settings(max_examples=100, deadline=None)
@given(
    arrivals=st.lists(st.tuples(st.integers(0, 240), st.integers(1, 50)), min_size=1, max_size=40)
)
def test_events_in_any_arrival_order_give_the_window_of_their_times(
    arrivals: list[tuple[int, int]],
) -> None:
    """However late events come, reading at a time sees exactly the entries of the hour
    before it (brute force over what was fed)."""
    windows = WindowAggregator(
        {"ads": [spec(name="total", field="ad.durationSeconds", fn="sum"),
                 spec(name="n", fn="count")]}
    )  # fmt: skip
    for minute, seconds in arrivals:
        windows.observe(ad(minute, seconds))
    newest = max(minute for minute, _ in arrivals)
    inside = [s for m, s in arrivals if newest - 60 < m <= newest]
    assert windows.values(ad(newest))["ads"] == {"total": float(sum(inside)), "n": len(inside)}


def test_memory_is_bounded() -> None:
    windows = WindowAggregator(
        {"ads": [spec(name="n", fn="count", groupBy=["content.channelId"])]},
        max_groups=3, max_entries=5,
    )  # fmt: skip
    for i in range(20):
        windows.observe(ad(i / 10, channel=f"ch{i % 4}"))
    assert windows.size <= 3 * 5
    for i in range(20):
        windows.observe(ad(3 + i / 10, channel="busy"))
    assert windows.values(ad(5, channel="busy"))["ads"] == {"n": 5}


def test_for_rules_uses_merged_parameters() -> None:
    from ott_runtime.domain.regulation import RegulationSet
    from ott_runtime.domain.rules import resolve_rules
    from ott_runtime.domain.tenant import ComplianceTenantSpec

    regset = RegulationSet.model_validate({
        "apiVersion": "compliance.ott.dev/v1alpha1", "kind": "RegulationSet",
        "metadata": {"name": "s"},
        "spec": {"jurisdiction": "EU", "version": "1", "parameters": {"min": 100},
                 "aggregates": [{"name": "big", "of": "ad.impression", "fn": "count",
                                 "window": "1h",
                                 "where": "event.ad.durationSeconds >= params.min"}],
                 "rules": [{"id": "r", "severity": "low", "appliesTo": ["ad.impression"],
                            "when": "aggregates.big > 0", "message": "m", "reference": "x"}]},
    })  # fmt: skip
    spec_ = ComplianceTenantSpec.model_validate(
        {"displayName": "T", "regulations": [{"name": "s", "parameters": {"min": 20}}]}
    )
    windows = WindowAggregator.for_rules(resolve_rules(spec_, {"s": regset}))
    assert windows.observe(ad(0, 30))["s"] == {"big": 1}


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 120), st.sampled_from(["a", "b"])),
        min_size=1, max_size=40,
    )
)  # fmt: skip
def test_matches_a_brute_force_recount(feed: list[tuple[int, int, str]]) -> None:
    specs = [spec(name="total", field="ad.durationSeconds", fn="sum"),
             spec(name="n", fn="count"),
             spec(name="longest", field="ad.durationSeconds", fn="max"),
             spec(name="channels", field="content.channelId", fn="distinct")]  # fmt: skip
    windows = WindowAggregator({"ads": specs})
    seen: list[tuple[int, int, str]] = []
    for minute, seconds, channel in sorted(feed):
        got = windows.observe(ad(minute, seconds, channel))["ads"]
        seen.append((minute, seconds, channel))
        live = [s for s in seen if s[0] > minute - 60]
        assert got["n"] == len(live)
        assert got["total"] == pytest.approx(sum(s[1] for s in live))
        assert got["longest"] == max(s[1] for s in live)
        assert got["channels"] == len({s[2] for s in live})


def test_an_event_without_a_valid_time_is_refused_clearly() -> None:
    windows = WindowAggregator({"ads": [spec(name="n", fn="count")]})
    with pytest.raises(ValueError, match="event time 'soon' is not an RFC 3339 timestamp"):
        windows.observe({**ad(0), "time": "soon"})
