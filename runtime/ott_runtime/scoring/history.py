"""A tenant's stored events as training data, for ``ottc train --from-db``.

Reads the tenant's events (payloads decrypted with its keyring, the same way the API opens
them) and how many rule hits each one had, through a tenant-scoped repository, page by page
in storage order. From them:

- the metric series: events per one-minute bucket (:func:`minute_of` of the time the event
  occurred, UTC), empty minutes included (:func:`minute_series`; the live series scorer
  counts with the same two functions);
- the sessions: each viewer's events (the key :func:`session_key` gives the live scorer too),
  split where the viewer paused longer than ``SESSION_GAP_SECONDS``; a session is labelled
  violation-prone (1) when any of its events broke a rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select

from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.models.sessions.features import (
    SESSION_GAP_SECONDS,
    SessionEvent,
    from_event,
    session_key,
)
from ott_runtime.storage import Store, TenantScope
from ott_runtime.storage.scope import ScopedRepository
from ott_runtime.storage.tables import EventRow, ViolationRow

PAGE = 2_000


class TrainingHistoryRepository(ScopedRepository):
    async def events_after(
        self, after_seq: int, since: datetime, limit: int
    ) -> list[tuple[int, str, datetime, dict[str, Any]]]:
        """(seq, event id, occurred at, payload) of the next events in storage order."""
        statement = self._where_tenant(
            select(EventRow.seq, EventRow.event_id, EventRow.occurred_at, EventRow.payload)
            .where(EventRow.seq > after_seq, EventRow.occurred_at >= since)
            .order_by(EventRow.seq)
            .limit(limit),
            EventRow,
        )
        rows = (await self._session.execute(statement)).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    async def hits_per_event(self, seqs: Sequence[int]) -> dict[int, int]:
        if not seqs:
            return {}
        statement = self._where_tenant(
            select(ViolationRow.event_seq, func.count())
            .where(ViolationRow.event_seq.in_(list(seqs)))
            .group_by(ViolationRow.event_seq),
            ViolationRow,
        )
        return {int(seq): int(count) for seq, count in (await self._session.execute(statement))}

    async def times_before(self, before_seq: int, since: datetime, limit: int) -> list[datetime]:
        """When the newest events stored before ``before_seq`` occurred (at or after
        ``since``), newest first: what primes the live series scorer."""
        statement = self._where_tenant(
            select(EventRow.occurred_at)
            .where(EventRow.seq < before_seq, EventRow.occurred_at >= since)
            .order_by(EventRow.occurred_at.desc())
            .limit(limit),
            EventRow,
        )
        return list((await self._session.scalars(statement)).all())


def to_minute(value: Any) -> np.datetime64:
    """``value`` (a datetime64 of any unit, or its text) as a one-minute datetime64."""
    minute: np.datetime64 = np.datetime64(value).astype("datetime64[m]")
    return minute


def minute_of(moment: datetime) -> np.datetime64:
    """The one-minute bucket (UTC) an event that occurred at ``moment`` counts in."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return np.datetime64(aware.astimezone(UTC).replace(tzinfo=None), "m")


def minute_series(
    minutes: npt.NDArray[np.datetime64],
    weights: npt.ArrayLike | None = None,
    end: np.datetime64 | None = None,
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    """Events per minute from the first bucket in ``minutes`` to the last (or to ``end``,
    whose later buckets are left out), empty minutes included. ``weights``: events each
    entry stands for (default one)."""
    minutes = np.asarray(minutes, dtype="datetime64[m]")
    if end is not None:
        keep = minutes <= end
        minutes = minutes[keep]
        weights = None if weights is None else np.asarray(weights)[keep]
    if not len(minutes):
        return np.array([], dtype="datetime64[m]"), np.array([], np.float64)
    first = minutes.min()
    last = minutes.max() if end is None else to_minute(end)
    span = np.arange(first, last + np.timedelta64(1, "m"), dtype="datetime64[m]")
    offsets = (minutes - first).astype(np.int64)
    counts = np.bincount(offsets, weights=weights, minlength=len(span)).astype(np.float64)
    return span, counts


@dataclass
class TenantHistory:
    minutes: npt.NDArray[np.datetime64] = field(
        default_factory=lambda: np.array([], dtype="datetime64[m]")
    )
    counts: npt.NDArray[np.float64] = field(default_factory=lambda: np.array([], np.float64))
    sessions: list[list[SessionEvent]] = field(default_factory=list)
    labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.array([], np.int64))
    events: int = 0
    unreadable: int = 0  # events whose stored time could not be read (skipped)

    def describe(self) -> str:
        positive = int(self.labels.sum()) if len(self.labels) else 0
        return (
            f"{self.events} events, {len(self.counts)} one-minute buckets, "
            f"{len(self.sessions)} sessions ({positive} with violations)"
        )


async def load_history(
    store: Store, runtime: TenantRuntime, since: datetime, max_events: int
) -> TenantHistory:
    """The tenant's events that occurred since ``since`` (at most ``max_events``, in storage
    order) as a series and labelled sessions."""
    scope = TenantScope(runtime.name)
    cipher = runtime.cipher
    stamps: list[np.datetime64] = []
    by_viewer: defaultdict[str, list[tuple[SessionEvent, bool]]] = defaultdict(list)
    history = TenantHistory()
    after = 0
    while history.events < max_events:
        async with store.read(scope) as data:
            repository = data.repository(TrainingHistoryRepository)
            page = await repository.events_after(
                after, since, min(PAGE, max_events - history.events)
            )
            hits = await repository.hits_per_event([seq for seq, *_ in page])
        if not page:
            break
        for seq, event_id, stored_at, payload in page:
            history.events += 1
            occurred_at = stored_at if stored_at.tzinfo else stored_at.replace(tzinfo=UTC)
            stamps.append(minute_of(occurred_at))
            document = cipher.decrypt_document(payload, event_id).document
            key = session_key(document)
            if key is None:
                continue
            try:
                event = from_event({**document, "time": occurred_at}, hits.get(seq, 0))
            except (KeyError, ValueError):
                history.unreadable += 1
                continue
            by_viewer[key].append((event, seq in hits))
        after = page[-1][0]
    history.minutes, history.counts = minute_series(np.array(stamps, dtype="datetime64[m]"))
    sessions, labels = split_sessions(by_viewer.values())
    history.sessions, history.labels = sessions, labels
    return history


def split_sessions(
    viewers: Any,
) -> tuple[list[list[SessionEvent]], npt.NDArray[np.int64]]:
    """Each viewer's events in time order, cut at pauses longer than the session gap."""
    sessions: list[list[SessionEvent]] = []
    labels: list[int] = []
    for events in viewers:
        ordered = sorted(events, key=lambda item: item[0].time)
        current: list[SessionEvent] = []
        violated = False
        for event, hit in ordered:
            if current and event.time - current[-1].time > SESSION_GAP_SECONDS:
                sessions.append(current)
                labels.append(int(violated))
                current, violated = [], False
            current.append(event)
            violated = violated or hit
        if current:
            sessions.append(current)
            labels.append(int(violated))
    return sessions, np.array(labels, dtype=np.int64)


async def recent_series(
    store: Store, tenant: str, before_seq: int, end: np.datetime64, minutes: int, max_events: int
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    """The tenant's events per minute over at most ``minutes`` minutes up to ``end``
    (included), counting the events stored before ``before_seq`` only. When ``max_events``
    cut the read short, the oldest minute read (perhaps partly) is left out."""
    end = to_minute(end)
    since = (end - np.timedelta64(minutes, "m")).astype("datetime64[s]").astype(datetime)
    async with store.read(TenantScope(tenant)) as data:
        repository = data.repository(TrainingHistoryRepository)
        times = await repository.times_before(before_seq, since.replace(tzinfo=UTC), max_events)
    stamps = np.array([minute_of(moment) for moment in times], dtype="datetime64[m]")
    if len(times) >= max_events:
        stamps = stamps[stamps > stamps.min()]
    return minute_series(stamps, end=end)
