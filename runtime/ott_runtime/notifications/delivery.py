"""The delivery worker: sends outbox rows as signed webhooks, off the ingest path.

Each attempt is signed afresh (new timestamp, same delivery id). 2xx means delivered;
timeouts, connection errors, 408, 425, 429 and 5xx are retried with exponential backoff
and jitter; other 4xx answers and a missing signing secret are permanent. A row out of
attempts, or permanently refused, becomes a dead letter (listed by the API, re-queueable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from ott_runtime.notifications.outbox import Claimed, OutboxQueue
from ott_runtime.notifications.signing import signed_headers
from ott_runtime.storage import Database

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {408, 425, 429}
DEFAULT_SECRETS_DIR = Path("/var/run/secrets/ottc/webhooks")


@dataclass
class DeliverySettings:
    base_delay: float = 1.0
    max_delay: float = 300.0
    max_attempts: int = 8
    timeout: float = 10.0
    concurrency: int = 8
    batch: int = 32
    lease_seconds: float = 120.0
    poll_seconds: float = 1.0


def backoff(attempt: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Delay before attempt ``attempt + 1``: exponential, capped, with equal jitter (half
    fixed, half random) so that many failing rows do not retry in lockstep."""
    ceiling = min(settings.max_delay, settings.base_delay * 2.0 ** (attempt - 1))
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


class WebhookSecrets:
    """Signing secrets as Kubernetes mounts them: ``<dir>/<secret name>/<key>``
    (``OTTC_WEBHOOK_SECRETS_DIR``, default /var/run/secrets/ottc/webhooks)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or Path(
            os.environ.get("OTTC_WEBHOOK_SECRETS_DIR", str(DEFAULT_SECRETS_DIR))
        )

    def get(self, name: str, key: str) -> bytes | None:
        if "/" in name or "/" in key or name.startswith(".") or key.startswith("."):
            return None
        path = self.directory / name / key
        try:
            return path.read_bytes().strip() or None
        except OSError:
            return None


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.delivered = Counter(
            "ottc_notifications_delivered", "Webhooks delivered", ["tenant"], registry=registry
        )
        self.failed = Counter(
            "ottc_notification_attempts_failed",
            "Failed webhook attempts",
            ["tenant", "reason"],
            registry=registry,
        )
        self.dead = Counter(
            "ottc_notifications_dead",
            "Notifications given up (dead letters)",
            ["tenant"],
            registry=registry,
        )
        self.latency = Histogram(
            "ottc_notification_delivery_seconds",
            "Time from enqueue to delivery",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
            registry=registry,
        )


class NotificationWorker:
    def __init__(
        self,
        database: Database,
        tenants: list[str],
        secrets: WebhookSecrets,
        settings: DeliverySettings,
        metrics: DeliveryMetrics,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.queue = OutboxQueue(database)
        self.tenants, self.secrets, self.settings, self.metrics = (
            tenants,
            secrets,
            settings,
            metrics,
        )
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        """New rows were committed: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.timeout, follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="notification-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        limit = asyncio.Semaphore(self.settings.concurrency)
        running: set[asyncio.Task[None]] = set()
        lease = timedelta(seconds=self.settings.lease_seconds)
        while True:
            try:
                claimed = await self.queue.claim(self.tenants, self.settings.batch, lease)
            except Exception:  # the database may be briefly away; try again
                log.exception("claiming notifications failed")
                claimed = []
            for row in claimed:
                await limit.acquire()
                task = asyncio.create_task(self._attempt(row))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _task: limit.release())
            if len(claimed) < self.settings.batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)

    async def _attempt(self, row: Claimed) -> None:
        attempts = row.attempts + 1
        secret = self.secrets.get(row.secret_name, row.secret_key)
        if secret is None:
            error = f"signing secret {row.secret_name}/{row.secret_key} not found; nothing sent"
            await self._give_up(row, attempts, error, "no-secret")
            return
        body = orjson.dumps(row.payload)
        headers = signed_headers(secret, body, row.delivery_id, row.kind)
        assert self._client is not None
        try:
            response = await self._client.post(row.url, content=body, headers=headers)
        except httpx.TimeoutException:
            await self._failed(row, attempts, "timed out", "timeout", retry=True)
            return
        except httpx.HTTPError as error:
            await self._failed(
                row, attempts, f"{type(error).__name__}: {error}", "network", retry=True
            )
            return
        except Exception as error:  # a bad URL and the like: permanent
            await self._give_up(row, attempts, f"{type(error).__name__}: {error}", "error")
            return
        status = response.status_code
        if 200 <= status < 300:
            await self.queue.delivered(row.id, attempts)
            self.metrics.delivered.labels(row.tenant_id).inc()
            created = datetime.fromisoformat(row.payload["createdAt"])
            self.metrics.latency.observe((datetime.now(UTC) - created).total_seconds())
            return
        retry = status >= 500 or status in RETRYABLE_STATUS
        await self._failed(row, attempts, f"HTTP {status}", f"http-{status // 100}xx", retry=retry)

    async def _failed(
        self, row: Claimed, attempts: int, error: str, reason: str, *, retry: bool
    ) -> None:
        self.metrics.failed.labels(row.tenant_id, reason).inc()
        if not retry or attempts >= self.settings.max_attempts:
            await self._give_up(row, attempts, error, None)
            return
        delay = backoff(attempts, self.settings, self._rng)
        at = datetime.now(UTC) + timedelta(seconds=delay)
        await self.queue.retry_later(row.id, attempts, at, error)
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _give_up(self, row: Claimed, attempts: int, error: str, reason: str | None) -> None:
        if reason is not None:
            self.metrics.failed.labels(row.tenant_id, reason).inc()
        log.warning(
            "notification %s is a dead letter after %d attempt(s): %s",
            row.delivery_id,
            attempts,
            error,
        )
        await self.queue.dead(row.id, attempts, error)
        self.metrics.dead.labels(row.tenant_id).inc()
