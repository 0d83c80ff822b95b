"""Tenants and their API keys: the one place that maps a presented key to a tenant.

This is deliberately not tenant-scoped (its job is to find the scope); it exposes no
tenant data, only the mapping and the list of tenants.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

from sqlalchemy import select

from ott_runtime.storage.database import Database
from ott_runtime.storage.scope import TenantScope
from ott_runtime.storage.tables import ApiKeyRow, TenantRow
from ott_runtime.telemetry import attributes as attr
from ott_runtime.telemetry import start_span

KEY_PREFIX = "ottc_"
_CACHE_SECONDS = 30.0
# an entry this close to expiry is looked up again in the background while it still
# answers, so a key in steady use never makes its requests wait for the database
_REFRESH_AHEAD_SECONDS = 5.0


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class TenantDirectory:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._labels: dict[str, tuple[float, str | None]] = {}
        # a key's lookup in progress: when its cache entry expires under load, the requests
        # that present it wait for one query instead of each sending its own
        self._lookups: dict[str, asyncio.Task[str | None]] = {}
        # bumped whenever keys change here: a lookup begun before is not cached
        self._generation = 0

    async def upsert_tenant(self, tenant_id: str, *, display_name: str, plan: str) -> None:
        TenantScope(tenant_id)  # validates the name
        # one statement, so replicas that start side by side cannot both insert the tenant
        insert = self._database.insert(TenantRow).values(
            id=tenant_id, display_name=display_name, plan=plan, created_at=datetime.now(UTC)
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[TenantRow.id],
            set_={"display_name": insert.excluded.display_name, "plan": insert.excluded.plan},
        )
        async with self._database.transaction() as session:
            await session.execute(upsert)

    async def register_key(self, tenant_id: str, api_key: str, *, label: str = "default") -> None:
        """Stores the hash of a key issued elsewhere (the operator's Secret, a demo key).

        Idempotent; a key already registered to another tenant is an error."""
        if len(api_key) < 24:
            raise ValueError("API keys must be at least 24 characters")
        digest = hash_api_key(api_key)
        # insert-or-keep in one statement: a replica starting beside us registers the same key
        insert = self._database.insert(ApiKeyRow).values(
            tenant_id=tenant_id,
            key_hash=digest,
            prefix=api_key[:9],
            label=label,
            created_at=datetime.now(UTC),
        )
        async with self._database.transaction() as session:
            await session.execute(insert.on_conflict_do_nothing(index_elements=["key_hash"]))
            owner = await session.scalar(
                select(ApiKeyRow.tenant_id).where(ApiKeyRow.key_hash == digest)
            )
            if owner != tenant_id:
                raise ValueError("this API key is already registered to another tenant")
        self._forget(digest)

    async def issue_key(self, tenant_id: str, *, label: str = "default") -> str:
        """A new random key for the tenant; the plaintext is returned once and never stored."""
        api_key = new_api_key()
        await self.register_key(tenant_id, api_key, label=label)
        return api_key

    async def revoke_key(self, api_key: str) -> None:
        digest = hash_api_key(api_key)
        async with self._database.transaction() as session:
            for row in await session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest)):
                row.revoked_at = datetime.now(UTC)
        self._forget(digest)
        self._labels.pop(digest, None)

    def _forget(self, digest: str) -> None:
        self._cache.pop(digest, None)
        self._lookups.pop(digest, None)
        self._generation += 1

    async def authenticate(self, api_key: str) -> TenantScope | None:
        """The tenant a presented key belongs to, or None (unknown or revoked)."""
        digest = hash_api_key(api_key)
        cached = self._cache.get(digest)
        now = time.monotonic()
        fresh = cached if cached is not None and now - cached[0] < _CACHE_SECONDS else None
        span_attributes = {attr.CACHE_NAME: "api_keys", attr.CACHE_HIT: fresh is not None}
        with start_span("ottc.cache.api_keys", span_attributes):
            if fresh is not None:
                tenant_id = fresh[1]
                if now - fresh[0] > _CACHE_SECONDS - _REFRESH_AHEAD_SECONDS:
                    self._lookup_once(digest, now)
            else:
                tenant_id = await asyncio.shield(self._lookup_once(digest, now))
        return TenantScope(tenant_id) if tenant_id else None

    def _lookup_once(self, digest: str, now: float) -> asyncio.Task[str | None]:
        lookup = self._lookups.get(digest)
        if lookup is None:  # a task of its own: a caller that gives up stops no other
            lookup = self._lookups[digest] = asyncio.create_task(self._lookup(digest))
            generation = self._generation
            lookup.add_done_callback(lambda task: self._looked_up(digest, now, generation, task))
        return lookup

    def _looked_up(
        self, digest: str, started: float, generation: int, lookup: asyncio.Task[str | None]
    ) -> None:
        if self._lookups.get(digest) is lookup:
            del self._lookups[digest]
        if lookup.cancelled() or lookup.exception() is not None:  # the callers raise it
            return  # (a failed refresh ahead leaves the entry to expire as it would have)
        if generation != self._generation:  # a key was revoked or the cache cleared since
            return
        if len(self._cache) > 10_000:  # bounded: random wrong keys must not grow it
            self._cache.clear()
        self._cache[digest] = (started, lookup.result())

    async def _lookup(self, digest: str) -> str | None:
        async with self._database.session() as session:
            row = (
                await session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
            ).one_or_none()
        valid = row is not None and row.revoked_at is None
        # compare_digest: the lookup is by hash already; this keeps it constant-time
        if valid and row and hmac.compare_digest(row.key_hash, digest):
            return row.tenant_id
        return None

    def clear_cache(self) -> int:
        """Forgets every cached key lookup (a revoked key stops working at once); returns
        how many entries were dropped."""
        dropped = len(self._cache)
        self._cache.clear()
        self._labels.clear()
        self._lookups.clear()
        self._generation += 1
        return dropped

    async def key_label(self, api_key: str) -> str | None:
        """The label of a valid (registered, not revoked) key; ``admin`` grants admin scope.
        Cached like authentication (and dropped with it by clear_cache)."""
        digest = hash_api_key(api_key)
        cached = self._labels.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        async with self._database.session() as session:
            row = (
                await session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
            ).one_or_none()
        label = row.label if row is not None and row.revoked_at is None else None
        if len(self._labels) > 10_000:
            self._labels.clear()
        self._labels[digest] = (now, label)
        return label

    async def tenants(self) -> list[TenantRow]:
        async with self._database.session() as session:
            return list((await session.scalars(select(TenantRow).order_by(TenantRow.id))).all())
