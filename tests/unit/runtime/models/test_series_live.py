"""The live series scorer without TensorFlow: which minute buckets close when, the same
series definition as training, and how closed buckets prime and update a detector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from ott_runtime.models.series.detector import SeriesScore
from ott_runtime.scoring.buckets import ClosedBucket, EventRef, MinuteBuckets, minute_end_seconds
from ott_runtime.scoring.history import minute_of, minute_series
from ott_runtime.scoring.series import LiveSeries, ScoredBucket

T0 = np.datetime64("2026-03-02T10:00", "m")
MIN = np.timedelta64(1, "m")


def ref(n: int) -> EventRef:
    return EventRef(f"e{n}", n)


PAST = minute_end_seconds(T0) + 3600.0  # wall clock an hour after the events: a replay


def test_minute_of_is_the_utc_minute() -> None:
    moment = datetime(2026, 3, 2, 11, 5, 59, tzinfo=timezone(timedelta(hours=1)))
    assert minute_of(moment) == np.datetime64("2026-03-02T10:05")
    assert minute_of(datetime(2026, 3, 2, 10, 5, 1)) == np.datetime64("2026-03-02T10:05")


def test_minute_series_fills_empty_minutes_and_stops_at_end() -> None:
    stamps = np.array([T0, T0, T0 + 3 * MIN, T0 + 5 * MIN], dtype="datetime64[m]")
    minutes, counts = minute_series(stamps)
    assert minutes[0] == T0
    assert len(minutes) == 6
    assert counts.tolist() == [2, 0, 0, 1, 0, 1]
    minutes, counts = minute_series(stamps, end=T0 + 4 * MIN)
    assert minutes[-1] == T0 + 4 * MIN
    assert counts.tolist() == [2, 0, 0, 1, 0]
    _, weighted = minute_series(stamps[:3], weights=[1, 2, 5])
    assert weighted.tolist() == [3, 0, 0, 5]


def test_a_later_minute_closes_the_open_one_and_the_empty_ones_between() -> None:
    buckets = MinuteBuckets()
    assert buckets.observe(T0, ref(1), PAST) == []
    assert buckets.observe(T0, ref(2), PAST) == []
    assert (buckets.first_seq, buckets.first_minute) == (1, T0)
    closed = buckets.observe(T0 + 3 * MIN, ref(3), PAST)
    assert [(b.minute, b.count) for b in closed] == [(T0, 2), (T0 + MIN, 0), (T0 + 2 * MIN, 0)]
    assert {b.last_event for b in closed} == {ref(2)}  # empty minutes: the newest before
    assert buckets.open_minute == T0 + 3 * MIN
    assert buckets.open_count == 1
    # an event of a closed minute is late: counted apart, not in the series
    assert buckets.observe(T0 + MIN, ref(4), PAST) == []
    assert buckets.late == 1
    assert buckets.open_count == 1
    closed = buckets.observe(T0 + 4 * MIN, ref(5), PAST)
    assert [(b.minute, b.count, b.last_event) for b in closed] == [(T0 + 3 * MIN, 1, ref(3))]


def test_the_timer_closes_live_minutes_after_the_grace_period_only() -> None:
    buckets = MinuteBuckets(grace_seconds=10, live_seconds=300)
    end = minute_end_seconds(T0)
    buckets.observe(T0, ref(1), end - 30)
    assert buckets.tick(end + 5) == []  # still within the grace period
    assert buckets.observe(T0, ref(2), end + 6) == []  # a few seconds late: still counted
    closed = buckets.tick(end + 11)
    assert [(b.minute, b.count) for b in closed] == [(T0, 2)]
    assert buckets.open_minute == T0 + MIN
    # a quiet tenant: its minutes close empty as wall time passes
    closed = buckets.tick(end + 60 * 3 + 11)  # 10:04:11
    assert [(b.minute, b.count) for b in closed] == [(T0 + i * MIN, 0) for i in (1, 2, 3)]
    assert buckets.tick(end + 60 * 3 + 12) == []


def test_the_timer_leaves_a_replayed_stream_to_its_own_events() -> None:
    buckets = MinuteBuckets(grace_seconds=10, live_seconds=300)
    buckets.observe(T0, ref(1), PAST)
    assert buckets.tick(PAST) == []  # the minute ended an hour ago: not a live stream
    assert buckets.tick(PAST + 600) == []
    assert [b.minute for b in buckets.observe(T0 + MIN, ref(2), PAST)] == [T0]


def test_a_long_jump_starts_a_new_series_instead_of_filling_it() -> None:
    buckets = MinuteBuckets(max_fill=5)
    buckets.observe(T0, ref(1), PAST)
    closed = buckets.observe(T0 + 100 * MIN, ref(2), PAST)
    assert [(b.minute, b.after_gap) for b in closed] == [(T0, False)]
    closed = buckets.observe(T0 + 101 * MIN, ref(3), PAST)
    assert [(b.minute, b.count, b.after_gap) for b in closed] == [(T0 + 100 * MIN, 1, True)]
    closed = buckets.observe(T0 + 102 * MIN, ref(4), PAST)
    assert [b.after_gap for b in closed] == [False]


class FakeDetector:
    """Scores a bucket 0.95 when its value is above 50 and, like the onset gate, reports the
    excursion on the next bucket with the peak score as its onset."""

    def __init__(self) -> None:
        self.primed: list[list[float]] = []
        self.updates: list[tuple[np.datetime64, float]] = []
        self._pending = 0.0

    def prime(self, timestamps: np.ndarray, values: np.ndarray) -> None:
        assert len(timestamps) == len(values)
        assert (np.diff(timestamps) == MIN).all()  # contiguous minutes
        self.primed.append(list(values))
        self._pending = 0.0

    def update(self, timestamp: np.datetime64, value: float) -> SeriesScore:
        self.updates.append((timestamp, value))
        score = 0.95 if value > 50 else 0.1
        onset = self._pending if score < self._pending else 0.0
        self._pending = score if score > 0.5 and not onset else 0.0
        return SeriesScore(value - 1, score, onset, onset >= 0.5)


def closed_minutes(counts: list[int], start: int = 0) -> list[ClosedBucket]:
    buckets = MinuteBuckets()
    closed = []
    for offset, count in enumerate(counts, start):
        for n in range(count):
            closed += buckets.observe(T0 + offset * MIN, ref(1000 * offset + n), PAST)
    closed += buckets.observe(T0 + (start + len(counts)) * MIN, ref(10**7), PAST)
    return closed


def test_buckets_prime_the_detector_then_each_is_updated_once() -> None:
    detector, live = FakeDetector(), LiveSeries(min_rows=5)
    closed = closed_minutes([4, 5, 4, 5, 4, 5, 4, 80, 5, 4])
    scored, alerts = live.advance(detector, 1, closed[:3])
    assert scored == []
    assert detector.primed == []
    scored, alerts = live.advance(detector, 1, closed[3:])
    assert detector.primed == [[4, 5, 4, 5, 4]]  # primed once five were known
    assert [value for _, value in detector.updates] == [5, 4, 80, 5, 4]
    assert [item.minute for item in scored] == [T0 + i * MIN for i in range(5, 10)]
    assert [item.alert for item in scored] == [False, False, False, True, False]
    # the alert is reported with the bucket after the spike, and belongs to the spike
    ((peak, reported),) = alerts
    assert (peak.minute, peak.count, peak.score) == (T0 + 7 * MIN, 80, 0.95)
    assert reported.minute == T0 + 8 * MIN
    assert reported.onset == 0.95
    assert peak.last_event == ref(7079)  # the spike minute's newest event
    assert live.status()["latest"]["minute"] == "2026-03-02T10:09:00Z"


def test_stored_history_comes_first_and_completes_the_first_live_minute() -> None:
    detector, live = FakeDetector(), LiveSeries(min_rows=4)
    stored = minute_series(
        np.array([T0 - 3 * MIN] * 6 + [T0 - MIN] * 5 + [T0] * 2, dtype="datetime64[m]"), end=T0
    )
    live.add_stored(*stored)
    # the live count of the first minute misses the two events stored before the start
    scored, _ = live.advance(detector, 1, closed_minutes([3, 5, 6]))
    assert detector.primed == [[6, 0, 5, 5]]
    assert [value for _, value in detector.updates] == [5, 6]
    assert [item.count for item in scored] == [5, 6]


def test_a_new_version_or_a_gap_primes_again_from_the_known_buckets() -> None:
    first, live = FakeDetector(), LiveSeries(min_rows=3)
    live.advance(first, 1, closed_minutes([4, 5, 4, 5]))
    assert len(first.primed) == 1
    assert len(first.updates) == 1
    second = FakeDetector()
    live.advance(second, 2, closed_minutes([6], start=4))
    assert second.primed == [[4, 5, 4, 5]]
    assert second.updates == [(T0 + 4 * MIN, 6)]
    buckets = MinuteBuckets(max_fill=2)
    gap = buckets.observe(T0 + 5 * MIN, ref(1), PAST)
    gap += buckets.observe(T0 + 50 * MIN, ref(2), PAST)
    gap += buckets.observe(T0 + 51 * MIN, ref(3), PAST)
    live.advance(second, 2, gap)
    assert len(second.primed) == 1  # after the gap only one bucket is known: not primed
    assert live.primed_version is None
    assert len(live.history) == 1


def test_an_alert_whose_peak_is_not_recent_belongs_to_its_own_bucket() -> None:
    live = LiveSeries(min_rows=1)
    live.advance(FakeDetector(), 1, closed_minutes([4, 5]))
    reported = ScoredBucket(T0 + 2 * MIN, 4, 3.0, 0.2, 0.42, True, None)
    assert live._peak(reported) is reported


def test_minute_of_naive_times_are_utc() -> None:
    assert minute_of(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)) == T0
