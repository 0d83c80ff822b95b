"""A tenant's live events-per-minute series: which one-minute buckets have closed.

The series is the one ``ottc train --from-db`` trains on (:func:`~.history.minute_of`: the
minute the event occurred, UTC; empty minutes count 0). A bucket closes when an event of a
later minute arrives (the minutes in between close empty), or, while events arrive in real
time, ``grace_seconds`` after its minute ended: a quiet tenant's minutes still close, and
events a few seconds late still count. A replayed or back-filled stream (events whose minute
lies further back than ``live_seconds``) closes its minutes by its own later events only.

An event of a minute that has closed already is late: it is counted in ``late`` and not in
the live series (the stored series that the next training reads still has it). A jump of
more than ``max_fill`` minutes is not filled with empty buckets: the next bucket starts a new
series (``after_gap``), which the scorer primes afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ott_runtime.scoring.history import to_minute

MINUTE = np.timedelta64(1, "m")
GRACE_SECONDS = 10.0
LIVE_SECONDS = 300.0
MAX_FILL_MINUTES = 24 * 60


def minute_end_seconds(minute: np.datetime64) -> float:
    """Unix time at which ``minute`` ends."""
    return float((to_minute(minute) + MINUTE).astype("datetime64[s]").astype(np.int64))


@dataclass(frozen=True)
class EventRef:
    """A stored event: what a series risk row is attached to."""

    event_id: str
    seq: int


@dataclass(frozen=True)
class ClosedBucket:
    minute: np.datetime64  # datetime64[m], UTC
    count: int
    last_event: EventRef | None  # the newest event seen up to the end of this minute
    after_gap: bool = False  # the buckets before it are not contiguous with it


class MinuteBuckets:
    """Counts events into one-minute buckets and reports each bucket once, when it closes."""

    def __init__(
        self,
        *,
        grace_seconds: float = GRACE_SECONDS,
        live_seconds: float = LIVE_SECONDS,
        max_fill: int = MAX_FILL_MINUTES,
    ) -> None:
        self.grace_seconds = grace_seconds
        self.live_seconds = live_seconds
        self.max_fill = max_fill
        self.open_minute: np.datetime64 | None = None
        self.open_count = 0
        self.first_seq: int | None = None  # first event counted: priming reads those before
        self.first_minute: np.datetime64 | None = None
        self.last_event: EventRef | None = None
        self.late = 0
        self._gap_pending = False

    def observe(self, minute: np.datetime64, event: EventRef, wall: float) -> list[ClosedBucket]:
        """Count one stored event; returns the buckets its arrival closed (oldest first).
        ``wall``: the current Unix time, for the timer's idea of "live"."""
        minute = to_minute(minute)
        closed: list[ClosedBucket] = []
        if self.open_minute is None:
            self.open_minute, self.first_minute, self.first_seq = minute, minute, event.seq
        elif minute < self.open_minute:
            self.late += 1
            return closed
        elif minute > self.open_minute:
            closed = self._close_until(minute)
        self.open_count += 1
        self.last_event = event
        return closed

    def tick(self, wall: float) -> list[ClosedBucket]:
        """Close the buckets whose minute ended ``grace_seconds`` ago, when the stream is live
        (the open minute ended less than ``live_seconds`` ago)."""
        if self.open_minute is None:
            return []
        open_end = minute_end_seconds(self.open_minute)
        if wall < open_end + self.grace_seconds or wall - open_end > self.live_seconds:
            return []
        now = to_minute(np.datetime64(int(wall - self.grace_seconds), "s"))
        return self._close_until(now)

    def _close_until(self, minute: np.datetime64) -> list[ClosedBucket]:
        """Close the open bucket and the empty ones before ``minute``, which opens."""
        assert self.open_minute is not None
        closed = [self._bucket(self.open_minute, self.open_count)]
        if int((minute - self.open_minute) / MINUTE) - 1 > self.max_fill:
            self._gap_pending = True
        else:
            empty = self.open_minute + MINUTE
            while empty < minute:
                closed.append(self._bucket(empty, 0))
                empty += MINUTE
        self.open_minute, self.open_count = minute, 0
        return closed

    def _bucket(self, minute: np.datetime64, count: int) -> ClosedBucket:
        bucket = ClosedBucket(minute, count, self.last_event, self._gap_pending)
        self._gap_pending = False
        return bucket
