"""The notification side of one runtime: the outbox rows written in the ingest transaction,
and the delivery worker woken once those rows are committed. The composition root
(:mod:`ott_runtime.app`) hooks its methods into the ingest pipeline, the broker and the
tenant reloads."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from ott_runtime.ingest.pubsub import Message
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.notifications.delivery import (
    DeliveryMetrics,
    DeliverySettings,
    NotificationWorker,
    WebhookSecrets,
)
from ott_runtime.notifications.outbox import enqueue
from ott_runtime.storage import Database, NewRiskScore, StoredViolation, TenantData


class Notifications:
    def __init__(
        self,
        database: Database,
        tenant_names: list[str],
        registry: CollectorRegistry,
        settings: DeliverySettings | None = None,
        secrets: WebhookSecrets | None = None,
    ) -> None:
        self.worker = NotificationWorker(
            database,
            tenant_names,
            secrets or WebhookSecrets(),
            settings or DeliverySettings(),
            DeliveryMetrics(registry),
        )
        # tenants whose ingest transaction wrote outbox rows: the worker is woken when that
        # transaction's messages are published (after its commit), not for every message
        self._written: set[str] = set()

    def on_tenants(self, names: list[str]) -> None:
        """A pooled tenant was taken on or dropped while serving."""
        self.worker.tenants = names

    async def enqueue(
        self,
        data: TenantData,
        runtime: TenantRuntime,
        violations: Sequence[StoredViolation],
        scores: Sequence[tuple[int, NewRiskScore]],
    ) -> None:
        """A transaction hook of the ingest pipeline: the outbox rows commit with the batch."""
        if await enqueue(data, runtime, violations, scores):
            self._written.add(runtime.name)

    def on_publish(self, message: Message) -> None:
        # a tenant's batches are serialised and publish after their commit; a flag left by
        # a rolled-back batch only wakes the worker once for nothing
        if message.tenant in self._written:
            self._written.discard(message.tenant)
            self.worker.wake()

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
