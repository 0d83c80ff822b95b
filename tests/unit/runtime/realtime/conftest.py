"""A runtime service over SQLite with stand-in rules and scorer, plus a fake transport,
so stream sessions run without a server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from ott_runtime.app import Runtime
from ott_runtime.crypto import KeyStore
from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest import Hit, RiskScore, ScoringInput, TenantRuntime
from ott_runtime.realtime.session import StreamEndpoint, StreamSettings
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope
from ott_runtime.storage.database import sqlite_url

TENANTS = ("acme", "globex")
KEYS = {name: f"ottc_unit_{name}_key_0123456789abcdef" for name in TENANTS}


class AdRules:
    """Ads over 30 s are high, over 60 s critical."""

    def evaluate(self, event: Mapping[str, Any], aggregates: Mapping[str, Any]) -> Sequence[Hit]:
        seconds = event.get("ad", {}).get("durationSeconds", 0)
        if seconds > 60:
            return [Hit("avmsd", "ad-way-too-long", "critical", 3, "way too long", "ref")]
        if seconds > 30:
            return [Hit("avmsd", "ad-too-long", "high", 2, "too long", "ref")]
        return []

    def evaluations_for(self, event_type: str) -> int:
        return 1

    def health(self) -> list[Any]:
        return []

    def describe(self) -> list[dict[str, Any]]:
        return []


class NoWindows:
    def observe(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        return {}

    def begin(self) -> None:  # nothing kept: nothing to journal or undo
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


class HitScorer:
    async def score(self, batch: Sequence[ScoringInput]) -> Sequence[RiskScore | None]:
        return [RiskScore(0.95 if item.rule_hits else 0.1, "test@1") for item in batch]


def ad(event_id: str, seconds: int = 10, content: str = "show-1") -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T10:00:00Z",
        "ad": {"durationSeconds": seconds},
        "content": {"id": content},
    }


@dataclass
class Live:
    service: RuntimeService
    realtime: StreamEndpoint  # the composition root's, as /v1/stream serves from

    async def ingest(self, tenant: str, *events: dict[str, Any]) -> None:
        body = orjson.dumps({"events": list(events)})
        await self.service.pipeline.ingest_body(TenantScope(tenant), body)

    async def authenticate(self, api_key: str) -> tuple[TenantScope, float]:
        from ott_runtime.realtime.protocol import CLOSE_UNAUTHORIZED
        from ott_runtime.realtime.session import StreamRefused

        scope = await self.service.store.directory.authenticate(api_key)
        if scope is None:
            raise StreamRefused(CLOSE_UNAUTHORIZED, "unknown key")
        return scope, 0.8


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    keys = KeyStore.from_directory(tmp_path / "keys", TENANTS, create_missing=True)
    spec = ComplianceTenantSpec.model_validate({"displayName": "T"})
    runtimes = [TenantRuntime(name, spec, AdRules(), NoWindows(), keys) for name in TENANTS]
    service = RuntimeService(
        sqlite_url(tmp_path / "rt.db"),
        runtimes,
        keys,
        api_keys={name: [key] for name, key in KEYS.items()},
        scorer=HitScorer(),
    )
    await service.start()
    runtime = Runtime(service, stream_settings=StreamSettings(heartbeat_seconds=30))
    yield Live(service, runtime.stream)
    await service.stop()


@dataclass
class FakeTransport:
    """A client: frames it sends go to ``inbox``; what the server sends lands in ``sent``.
    Clearing ``gate`` makes the server's sends block, like a client that stopped reading."""

    inbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    sent: list[dict[str, Any]] = field(default_factory=list)
    closed: tuple[int, str] | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(orjson.loads(text))
        self._changed.set()

    async def receive_text(self) -> str:
        item = await self.inbox.get()
        if item is None:
            raise ConnectionError("client went away")
        return item

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.inbox.put_nowait(None)
        self._changed.set()

    def send(self, **frame: Any) -> None:
        self.inbox.put_nowait(orjson.dumps(frame).decode())

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.sent if f["type"] == kind]

    async def until(self, done: Callable[[FakeTransport], bool], within: float = 5.0) -> None:
        async def wait() -> None:
            while not done(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), within)
