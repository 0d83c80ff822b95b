"""One notification setup per runtime service: the outbox hook in the ingest
transaction, and a delivery worker started and stopped with the app."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from ott_runtime.ingest.pubsub import Message
from ott_runtime.ingest.service import RuntimeService
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.notifications.delivery import (
    DeliveryMetrics,
    DeliverySettings,
    NotificationWorker,
    WebhookSecrets,
)
from ott_runtime.notifications.outbox import enqueue
from ott_runtime.storage import NewRiskScore, StoredViolation, TenantData

_BY_SERVICE: weakref.WeakKeyDictionary[RuntimeService, Notifications] = weakref.WeakKeyDictionary()


class Notifications:
    def __init__(
        self,
        service: RuntimeService,
        registry: CollectorRegistry,
        settings: DeliverySettings | None = None,
        secrets: WebhookSecrets | None = None,
    ) -> None:
        self.service = service
        self.worker = NotificationWorker(
            service.database,
            service.tenants.names,
            secrets or WebhookSecrets(),
            settings or DeliverySettings(),
            DeliveryMetrics(registry),
        )
        self._users = 0
        # tenants whose ingest transaction wrote outbox rows: the worker is woken when that
        # transaction's messages are published (after its commit), not for every message
        self._written: set[str] = set()
        service.pipeline.transaction_hooks.append(self._enqueue)
        service.broker.add_listener(self._on_publish)
        service.tenant_listeners.append(self._on_tenants)

    def _on_tenants(self, names: list[str]) -> None:
        self.worker.tenants = names  # a pooled tenant taken on or dropped while serving

    @classmethod
    def for_service(
        cls,
        service: RuntimeService,
        registry: CollectorRegistry,
        settings: DeliverySettings | None = None,
        secrets: WebhookSecrets | None = None,
    ) -> Notifications:
        """The service's setup, made on first use (settings and secrets apply then):
        several apps over one service must not enqueue every notification twice."""
        existing = _BY_SERVICE.get(service)
        if existing is None:
            existing = _BY_SERVICE[service] = cls(service, registry, settings, secrets)
        return existing

    async def _enqueue(
        self,
        data: TenantData,
        runtime: TenantRuntime,
        violations: Sequence[StoredViolation],
        scores: Sequence[tuple[int, NewRiskScore]],
    ) -> None:
        if await enqueue(data, runtime, violations, scores):
            self._written.add(runtime.name)

    def _on_publish(self, message: Message) -> None:
        # a tenant's batches are serialised and publish after their commit; a flag left by
        # a rolled-back batch only wakes the worker once for nothing
        if message.tenant in self._written:
            self._written.discard(message.tenant)
            self.worker.wake()

    async def start(self) -> None:
        self._users += 1
        if self._users == 1:
            await self.worker.start()

    async def stop(self) -> None:
        self._users -= 1
        if self._users == 0:
            await self.worker.stop()
