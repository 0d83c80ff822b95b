"""API-call metering: counted in memory per tenant and hour, flushed to the usage table.

Events, bytes and rule evaluations are counted inside the ingest transaction (exact);
API calls are too frequent for a write each, so they are summed here and flushed every
few seconds, at shutdown, and before usage is read.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from ott_runtime.storage import Store, TenantScope


class ApiCallMeter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: Counter[tuple[str, datetime]] = Counter()
        self._lock = asyncio.Lock()

    def count(self, tenant: str, when: datetime | None = None) -> None:
        moment = when or datetime.now(UTC)
        self._pending[(tenant, moment.replace(minute=0, second=0, microsecond=0))] += 1

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, Counter()
            for (tenant, hour), calls in sorted(pending.items()):
                async with self._store.write(TenantScope(tenant)) as data:
                    await data.usage.add(hour, api_calls=calls)

    async def run(self, interval: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.flush()
