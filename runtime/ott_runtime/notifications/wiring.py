"""One notification setup per runtime service: the outbox hook in the ingest
transaction, and a delivery worker started and stopped with the app."""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry

from ott_runtime.ingest.pubsub import Message
from ott_runtime.ingest.service import RuntimeService
from ott_runtime.notifications.delivery import (
    DeliveryMetrics,
    DeliverySettings,
    NotificationWorker,
    WebhookSecrets,
)
from ott_runtime.notifications.outbox import enqueue

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
        service.pipeline.transaction_hooks.append(enqueue)
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

    def _on_publish(self, message: Message) -> None:
        if message.topic in ("violations", "risk"):
            self.worker.wake()

    async def start(self) -> None:
        self._users += 1
        if self._users == 1:
            await self.worker.start()

    async def stop(self) -> None:
        self._users -= 1
        if self._users == 0:
            await self.worker.stop()
