"""The LSTM series detector in the runtime: a tenant's events per minute, scored live.

When a tenant's ``spec.scoring.models.lstm`` is on and the registry has a promoted series
model, :class:`SeriesScoring` counts the tenant's stored events (the ingest pipeline's
post-commit ``events`` messages) into one-minute buckets (:mod:`.buckets`, the series that
``ottc train --from-db`` trains on). Each closed bucket goes through the detector's
``update`` once, off the event loop; the detector is first primed with the stored events per
minute before the first live minute plus the buckets seen since (once there are enough).

The latest forecasts and scores are in ``GET /v1/models`` (``series``). An alert (the
detector's onset gate reports an excursion once, on the bucket after its peak) becomes a
risk row of model ``viewing-series@<version>`` attached to the newest event of the peak
minute, with the minute, actual count, forecast and scores as its explanation: it reaches
``risk`` streams, ``riskAlerts``, GraphQL and webhooks like any risk row.

Each replica counts the events it ingested; with several replicas per tenant each sees part
of the series. Nothing is loaded (and TensorFlow is not imported) for a tenant without a
promoted series model or with ``lstm`` off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from ott_runtime.ingest.pubsub import Broker, Message
from ott_runtime.ingest.tenants import TenantRegistry, TenantRuntime
from ott_runtime.models.registry import ModelRegistry, ModelSlot
from ott_runtime.scoring.buckets import ClosedBucket, EventRef, MinuteBuckets
from ott_runtime.scoring.history import minute_of, recent_series, to_minute
from ott_runtime.storage import NewRiskScore, Store

if TYPE_CHECKING:
    from ott_runtime.models.series.detector import SeriesAnomalyDetector, SeriesScore

log = logging.getLogger(__name__)
PRIME_MINUTES = 2 * 24 * 60  # history kept to prime a detector (a new one on hot swap too)
PRIME_MAX_EVENTS = 2_000_000  # stored events read to prime
RECENT_BUCKETS = 60  # scored buckets shown in GET /v1/models
TICK_SECONDS = 1.0
SERIES_NAME = "eventsPerMinute"
# stores risk rows with the ingest transaction's hooks and publishes them
# (ott_runtime.ingest.pipeline.IngestPipeline.add_risk_scores)
RiskSink = Callable[
    [TenantRuntime, Sequence[NewRiskScore], dict[str, int]],
    Awaitable[list[tuple[int, NewRiskScore]]],
]


class Detector(Protocol):
    """What the live series needs of :class:`SeriesAnomalyDetector`."""

    def prime(
        self, timestamps: npt.NDArray[np.datetime64], values: npt.NDArray[np.float64]
    ) -> None: ...

    def update(self, timestamp: np.datetime64, value: float) -> SeriesScore: ...


def iso_minute(minute: np.datetime64) -> str:
    return f"{np.datetime_as_string(to_minute(minute))}:00Z"


@dataclass(frozen=True)
class ScoredBucket:
    minute: np.datetime64
    count: int
    forecast: float
    score: float
    onset: float
    alert: bool
    last_event: EventRef | None

    def to_json(self) -> dict[str, Any]:
        return {
            "minute": iso_minute(self.minute),
            "actual": self.count,
            "forecast": round(self.forecast, 3),
            "score": round(self.score, 6),
            "onset": round(self.onset, 6),
            "alert": self.alert,
        }


@dataclass(frozen=True)
class SeriesAlert:
    peak: ScoredBucket  # the bucket whose score the onset reports
    reported: ScoredBucket  # the bucket whose update raised the alert
    version: int | None

    @property
    def event(self) -> EventRef | None:
        """The row's event: the newest of the peak minute (or before it, when it was empty)."""
        return self.peak.last_event or self.reported.last_event

    def risk_score(self, alert_level: float) -> NewRiskScore | None:
        event = self.event
        if event is None:
            return None
        return NewRiskScore(
            event.event_id,
            min(max(self.reported.onset, 0.0), 1.0),
            f"viewing-series@{self.version}",
            {
                "kind": "series",
                "series": SERIES_NAME,
                **self.peak.to_json(),
                "onset": round(self.reported.onset, 6),  # the gate's report of the peak
                "alert": True,
                "alertLevel": alert_level,
                "reportedWith": iso_minute(self.reported.minute),
            },
        )


@dataclass
class LiveSeries:
    """One tenant's live series and detector state. ``advance`` runs in a worker thread,
    one call at a time; ``buckets`` and ``pending`` belong to the event loop."""

    min_rows: int = 0  # buckets needed to prime: set from the detector's lookback
    buckets: MinuteBuckets = field(default_factory=MinuteBuckets)
    pending: list[ClosedBucket] = field(default_factory=list)
    history: deque[tuple[np.datetime64, float]] = field(
        default_factory=lambda: deque(maxlen=PRIME_MINUTES)
    )
    recent: deque[ScoredBucket] = field(default_factory=lambda: deque(maxlen=RECENT_BUCKETS))
    stored_loaded: bool = False
    primed_version: int | None = None
    stored_extra: dict[np.datetime64, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_stored(
        self, minutes: npt.NDArray[np.datetime64], counts: npt.NDArray[np.float64]
    ) -> None:
        """The stored series up to the first live minute (included): the minutes before it
        come first in the history; the first minute's stored count joins its live count."""
        with self.lock:
            self.stored_loaded = True
            if not len(minutes):
                return
            self.history.extend(zip(minutes[:-1], counts[:-1].tolist(), strict=True))
            self.stored_extra[to_minute(minutes[-1])] = float(counts[-1])

    def advance(
        self, detector: Detector, version: int | None, closed: Sequence[ClosedBucket]
    ) -> tuple[list[ScoredBucket], list[tuple[ScoredBucket, ScoredBucket]]]:
        """Feed closed buckets through the detector: (scored buckets, (peak, reported)
        pairs of the alerts). Until enough buckets are known they only prime it."""
        scored: list[ScoredBucket] = []
        alerts: list[tuple[ScoredBucket, ScoredBucket]] = []
        with self.lock:
            if version != self.primed_version:
                self._prime(detector, version)  # e.g. a new version went into service
            for bucket in closed:
                if bucket.after_gap:
                    self.history.clear()
                    self.primed_version = None
                count = bucket.count + self.stored_extra.pop(bucket.minute, 0.0)
                if self.primed_version is not None:
                    result = detector.update(bucket.minute, count)
                    item = ScoredBucket(
                        bucket.minute,
                        int(count),
                        result.forecast,
                        result.score,
                        result.onset,
                        result.alert,
                        bucket.last_event,
                    )
                    self.recent.append(item)
                    scored.append(item)
                    if item.alert:
                        alerts.append((self._peak(item), item))
                self.history.append((bucket.minute, count))
                if self.primed_version is None:
                    self._prime(detector, version)
        return scored, alerts

    def _prime(self, detector: Detector, version: int | None) -> None:
        self.primed_version = None
        if len(self.history) < max(self.min_rows, 1):
            return
        minutes = np.array([m for m, _ in self.history], dtype="datetime64[m]")
        counts = np.array([c for _, c in self.history], dtype=np.float64)
        detector.prime(minutes, counts)
        self.primed_version = version

    def _peak(self, reported: ScoredBucket) -> ScoredBucket:
        """The onset gate reports an excursion's peak score after the rise: the latest recent
        bucket with that score (the reported one when none matches)."""
        for item in reversed(self.recent):
            if item.score == reported.onset:
                return item
        return reported

    def status(self) -> dict[str, Any]:
        latest = self.recent[-1].to_json() if self.recent else None
        return {
            "primed": self.primed_version is not None,
            "bucketsKnown": len(self.history),
            "bucketsToPrime": self.min_rows,
            "openMinute": None
            if self.buckets.open_minute is None
            else iso_minute(self.buckets.open_minute),
            "lateEvents": self.buckets.late,
            "latest": latest,
            "recent": [item.to_json() for item in self.recent],
        }


class SeriesScoring:
    """Keeps each enabled tenant's series detector in service and scores its closed buckets."""

    def __init__(
        self,
        registry: ModelRegistry,
        tenants: TenantRegistry,
        store: Store,
        broker: Broker,
        add_risk_scores: RiskSink,
        *,
        refresh_seconds: float,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        """``store``: the stored events that prime a detector; ``broker``: the ingest's
        ``events`` messages, counted into buckets; ``add_risk_scores``: where alerts go."""
        self.registry = registry
        self.tenants = tenants
        self.store = store
        self.add_risk_scores = add_risk_scores
        self.refresh_seconds = refresh_seconds
        self.tick_seconds = tick_seconds
        self._slots: dict[str, ModelSlot[SeriesAnomalyDetector]] = {}
        self._live: dict[str, LiveSeries] = {}  # read by the broker listener
        self._status: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, str] = {}
        self._wake: asyncio.Event | None = None
        self.alerts_stored = 0
        broker.add_listener(self._on_message)

    # -- loading (a worker thread) -------------------------------------------------------

    def _slot(self, tenant: str) -> ModelSlot[SeriesAnomalyDetector]:
        from ott_runtime.models.series.lstm import FEATURE_SCHEMA
        from ott_runtime.models.training import SERIES_MODEL, load_series

        return ModelSlot(self.registry, tenant, SERIES_MODEL, load_series, list(FEATURE_SCHEMA))

    def refresh(self) -> None:
        """Load what is newly promoted; drop tenants turned off or gone (blocking)."""
        from ott_runtime.models.training import SERIES_MODEL

        status: dict[str, dict[str, Any]] = {}
        for runtime in list(self.tenants):
            name = runtime.name
            if not runtime.spec.scoring.models.lstm:
                self._drop(name)
                status[name] = {
                    "enabled": False,
                    "state": "off (spec.scoring.models.lstm is false)",
                }
                continue
            slot = self._slots.get(name)
            if slot is None:
                if self.registry.promoted(name, SERIES_MODEL) is None:
                    status[name] = {"enabled": True, "state": "no promoted series model"}
                    continue
                slot = self._slots[name] = self._slot(name)
            slot.refresh()
            if slot.current is not None:
                config = slot.current.config
                live = self._live.setdefault(name, LiveSeries())
                # enough buckets for the first z-scores of the forecast residuals
                live.min_rows = config.lstm.lookback + config.threshold.min_history
            state = "scoring" if slot.current is not None else "not scoring: no usable version"
            status[name] = {
                "enabled": True,
                "state": state,
                "model": SERIES_MODEL,
                "version": slot.version,
                "promoted": self.registry.promoted(name, SERIES_MODEL),
                "error": slot.last_error,
            }
        for gone in set(self._slots) - set(status):
            self._drop(gone)
        self._status = status

    def _drop(self, tenant: str) -> None:
        self._live.pop(tenant, None)
        self._slots.pop(tenant, None)

    def status(self, tenant: str) -> dict[str, Any]:
        status = dict(self._status.get(tenant) or {"enabled": None, "state": "not loaded yet"})
        live = self._live.get(tenant)
        if live is not None:
            status.update(live.status())
        if tenant in self._errors:
            status["lastError"] = self._errors[tenant]
        return status

    # -- counting (the event loop) -------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        if message.topic != "events":
            return
        live = self._live.get(message.tenant)
        if live is None:
            return
        payload = message.payload
        minute = minute_of(datetime.fromisoformat(payload["timestamp"]))
        closed = live.buckets.observe(minute, EventRef(payload["id"], payload["seq"]), time.time())
        if closed:
            live.pending.extend(closed)
            if self._wake is not None:
                self._wake.set()

    # -- scoring (the background job) ----------------------------------------------------

    async def run(self, _service: object = None) -> None:
        """Background job: load at start, pick up promotions, score closed buckets."""
        self._wake = asyncio.Event()
        next_refresh = 0.0
        while True:
            self._wake.clear()
            if time.monotonic() >= next_refresh:
                try:
                    await asyncio.to_thread(self.refresh)
                except Exception:  # keep serving what is loaded; the next round retries
                    log.exception("series model refresh failed")
                next_refresh = time.monotonic() + self.refresh_seconds
            for tenant, live in list(self._live.items()):
                live.pending.extend(live.buckets.tick(time.time()))
                if live.pending:
                    try:
                        await self._advance(tenant, live)
                        self._errors.pop(tenant, None)
                    except Exception as error:  # a lost score is never worth stopping for
                        log.exception("%s: series scoring failed", tenant)
                        self._errors[tenant] = f"{type(error).__name__}: {error}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)

    async def _advance(self, tenant: str, live: LiveSeries) -> None:
        slot = self._slots.get(tenant)
        if slot is None or slot.current is None:
            return
        closed, live.pending = live.pending, []
        first = live.buckets
        if not live.stored_loaded and first.first_seq is not None:
            assert first.first_minute is not None
            minutes, counts = await recent_series(
                self.store,
                tenant,
                first.first_seq,
                first.first_minute,
                PRIME_MINUTES,
                PRIME_MAX_EVENTS,
            )
            live.add_stored(minutes, counts)
        detector, version = slot.get(), slot.version
        _, alerts = await asyncio.to_thread(live.advance, detector, version, closed)
        level = detector.config.threshold.alert_level
        await self._store(tenant, [SeriesAlert(peak, rep, version) for peak, rep in alerts], level)

    async def _store(self, tenant: str, alerts: Sequence[SeriesAlert], level: float) -> None:
        scores = [s for s in (alert.risk_score(level) for alert in alerts) if s is not None]
        seqs = {a.event.event_id: a.event.seq for a in alerts if a.event is not None}
        runtime = self.tenants.get(tenant)
        if not scores or runtime is None:
            return
        stored = await self.add_risk_scores(runtime, scores, seqs)
        self.alerts_stored += len(stored)
        for _, score in stored:
            log.info("%s: series alert %s (score %.3f)", tenant, score.explanation, score.score)
