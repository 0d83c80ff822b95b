"""API-call metering that survives a crash of the process.

Events, bytes and rule evaluations are counted inside the ingest transaction. An API call
is counted in memory when it is authenticated and becomes durable by whichever of these
commits first:

- **an ingest of the same tenant**: the batch's transaction takes every pending call of
  its tenant, its own included, into the usage row it writes anyway
  (:meth:`ApiCallMeter.take`, no extra statement). A batch is answered only after that
  commit, so an answered ingest call is never lost, and a tenant that ingests needs no
  other write for its reads;
- **the write-behind flush**: every :data:`FLUSH_INTERVAL_SECONDS` (0.5 s), one
  transaction for all tenants with pending calls, and none when nothing is pending.
  A read call is therefore durable at most one interval plus one flush after its answer;
  a ``kill -9`` loses at most the calls answered in that window (measured in
  ``tests/integration/test_usage_durability.py``). A write transaction per GET would
  queue every read behind SQLite's single writer; this costs at most two small ones a
  second.

Counts leave the pending table only inside the transaction that stores them (after the
rows are locked, see :meth:`flush`) and come back if it rolls back, so a count is never
both lost and answered, nor stored twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ott_runtime.storage import Store, TenantData, TenantScope
from ott_runtime.storage.housekeeping import UsageRepository

log = logging.getLogger(__name__)
# the write-behind window: at most this long (plus one flush) between an answer and the
# commit that counts it; a kill -9 loses at most the read calls of that window
FLUSH_INTERVAL_SECONDS = 0.5

Pending = dict[str, Counter[datetime]]  # tenant -> hour -> calls


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class _UsageLedger(UsageRepository):
    """The tenant's usage counters in a given transaction, told when it ends."""

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """``callback`` runs once if this transaction ends without committing."""
        session = self._session.sync_session
        state = {"committed": False, "ended": False}  # the session is this transaction's

        def after_commit(_session: Session) -> None:
            state["committed"] = True

        def after_end(_session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is not None or state["ended"]:  # a savepoint; or done
                return
            state["ended"] = True
            if not state["committed"]:
                callback()

        event.listen(session, "after_commit", after_commit)
        event.listen(session, "after_transaction_end", after_end)


class ApiCallMeter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: Pending = {}
        self._lock = asyncio.Lock()  # one flush at a time

    def count(self, tenant: str, when: datetime | None = None) -> None:
        hours = self._pending.get(tenant)
        if hours is None:
            hours = self._pending[tenant] = Counter()
        hours[_hour(when or datetime.now(UTC))] += 1

    def pending(self, tenant: str) -> int:
        """Calls of ``tenant`` counted but not yet committed by any transaction."""
        return sum(self._pending.get(tenant, Counter()).values())

    def _restore(self, taken: Pending) -> None:
        for tenant, hours in taken.items():
            self._pending.setdefault(tenant, Counter()).update(hours)

    async def take(self, data: TenantData, hour: datetime) -> int:
        """The tenant's pending calls, to commit with ``data``'s transaction (the ingest's):
        those of ``hour`` are returned for the caller's own usage row (no statement of our
        own), any of other hours (an hour just ended) are added here, earlier first."""
        tenant = data.scope.tenant_id
        hours = self._pending.pop(tenant, None)
        if not hours:
            return 0
        ledger = data.repository(_UsageLedger)
        ledger.on_rollback(lambda: self._restore({tenant: hours}))
        for earlier, calls in sorted(hours.items()):
            if earlier != hour:
                await ledger.add(earlier, api_calls=calls)
        return hours.get(hour, 0)

    async def flush(self) -> None:
        """Stores every pending call in one transaction (none when nothing is pending)."""
        async with self._lock:
            keys = sorted((t, h) for t, hours in self._pending.items() for h in hours)
            if not keys:
                return
            taken: Pending = {}
            try:
                async with self._store.database.transaction() as session:
                    ledgers = {t: _UsageLedger(session, TenantScope(t)) for t, _ in keys}
                    # lock the rows first (PostgreSQL): an ingest of the same tenant that
                    # commits after we take its calls then waits for this commit, so it
                    # never answers before they are stored. SQLite's single writer
                    # already orders the two.
                    for tenant, hour in keys:
                        await ledgers[tenant].add(hour, api_calls=0)
                    for tenant, hour in keys:
                        calls = self._pending.get(tenant, Counter()).pop(hour, 0)
                        if calls:
                            taken.setdefault(tenant, Counter())[hour] = calls
                            await ledgers[tenant].add(hour, api_calls=calls)
                    for tenant in {t for t, _ in keys}:
                        if not self._pending.get(tenant, True):
                            del self._pending[tenant]
            except BaseException:
                self._restore(taken)  # not stored: the next flush or write takes them
                raise

    async def run(self, interval: float = FLUSH_INTERVAL_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            try:  # shielded: a stop() mid-commit must not leave its outcome unknown
                await asyncio.shield(self.flush())
            except Exception:  # e.g. the database is briefly down: the counts stay pending
                log.exception("usage flush failed; %d tenants' calls kept", len(self._pending))
