"""A tenant's stored events as training data, for ``ottc train --from-db``.

Reads the tenant's events (payloads decrypted with its keyring, the same way the API opens
them) and how many rule hits each one had, through a tenant-scoped repository, page by page
in storage order. From them:

- the metric series: events per one-minute bucket, empty minutes included;
- the sessions: each viewer's events (the key :func:`session_key` gives the live scorer too),
  split where the viewer paused longer than ``SESSION_GAP_SECONDS``; a session is labelled
  violation-prone (1) when any of its events broke a rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
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
            stamps.append(np.datetime64(occurred_at.astimezone(UTC).replace(tzinfo=None), "m"))
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
    if stamps:
        minutes = np.array(stamps, dtype="datetime64[m]")
        first, last = minutes.min(), minutes.max()
        history.minutes = np.arange(first, last + np.timedelta64(1, "m"), dtype="datetime64[m]")
        counted = Counter((minutes - first).astype(np.int64).tolist())
        history.counts = np.zeros(len(history.minutes), np.float64)
        for offset, count in counted.items():
            history.counts[offset] = count
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
