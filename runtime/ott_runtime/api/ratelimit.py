"""The app's own rate limit per API key: the fallback behind the gateway's (Kong) limit."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ott_runtime.domain.tenant import ComplianceTenantSpec, Plan

# requests per second (and burst) by plan when spec.gateway.rateLimit sets none
PLAN_PER_SECOND = {Plan.FREE: 10, Plan.STANDARD: 50, Plan.ENTERPRISE: 200}


def per_second_for(spec: ComplianceTenantSpec) -> float:
    limit = spec.gateway.rate_limit
    if limit is not None and limit.per_second is not None:
        return float(limit.per_second)
    if limit is not None and limit.per_minute is not None:
        return limit.per_minute / 60.0
    return float(PLAN_PER_SECOND[spec.plan])


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by API-key hash; refill ``rate`` a second up to ``burst``."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str, rate: float, burst: float | None = None) -> float:
        """0 when allowed; otherwise the seconds to wait before retrying."""
        capacity = burst if burst is not None else max(rate, 1.0)
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate

    def wait(self, key: str, spec: ComplianceTenantSpec) -> float:
        """:meth:`acquire` at the tenant's rate (the protocol ``auth.RateLimit``)."""
        return self.acquire(key, per_second_for(spec))


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
