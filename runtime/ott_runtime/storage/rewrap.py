"""Re-encrypt a tenant's rows under its primary key (``ottc keys rewrap``).

Works in batches, one transaction each, selecting only rows NOT yet under the primary
key: an interrupted run loses at most one uncommitted batch and the next run continues
where it stopped. A row whose ciphertext fails verification is never rewritten (the
evidence stays as it is); it is skipped and reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ott_runtime.crypto import CiphertextError, FieldCipher
from ott_runtime.storage.repositories import Store
from ott_runtime.storage.scope import TenantScope


@dataclass
class RewrapResult:
    tenant: str
    primary_version: int
    rewrapped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (event id, reason)


async def pending_rewrap(store: Store, scope: TenantScope, cipher: FieldCipher) -> int:
    async with store.read(scope) as data:
        return await data.events.count_not_on_key(cipher.primary_version)


async def rewrap_tenant(
    store: Store,
    scope: TenantScope,
    cipher: FieldCipher,
    *,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
    max_batches: int | None = None,
) -> RewrapResult:
    """``on_batch(n)`` after each committed batch; ``max_batches`` stops early (tests)."""
    if cipher.tenant != scope.tenant_id:
        raise ValueError("the keyring belongs to another tenant")
    result = RewrapResult(scope.tenant_id, cipher.primary_version)
    after_seq, batches = 0, 0
    while max_batches is None or batches < max_batches:
        async with store.write(scope) as data:
            rows = await data.events.not_on_key(cipher.primary_version, after_seq, batch_size)
            if not rows:
                break
            done = 0
            for row in rows:
                try:
                    payload = cipher.rewrap_document(row.payload, row.event_id)
                except CiphertextError as error:
                    result.failed.append((row.event_id, str(error)))
                    continue
                await data.events.replace_payload(row.seq, payload, cipher.primary_version)
                done += 1
            after_seq = rows[-1].seq
        result.rewrapped += done
        batches += 1
        if on_batch is not None:
            on_batch(len(rows))
    return result
