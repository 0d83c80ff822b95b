"""Authentication of an API call, framework-free: the one path REST, the ``/v1/stream``
socket and GraphQL (HTTP and graphql-transport-ws) take.

:func:`authenticate` looks the presented key up, checks its tenant is served here,
takes one token from the key's rate limit and (unless the call is free) counts the call
for billing. It raises :class:`AuthError` subclasses; each entry point turns them into
its own answer (a 401/403/429 problem, a stream close code, a GraphQL error code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.storage import TenantScope
from ott_runtime.storage.directory import hash_api_key

if TYPE_CHECKING:
    from ott_runtime.service import RuntimeService

NO_KEY_DETAIL: Final = "send the tenant's API key in X-API-Key"
BAD_KEY_DETAIL: Final = "the API key is unknown or revoked"
NOT_SERVED_DETAIL: Final = "this key's tenant is not served here"


class RateLimit(Protocol):
    """The per-key limit (``api.ratelimit.RateLimiter``), given per call so each app
    keeps its own buckets."""

    def wait(self, key: str, spec: ComplianceTenantSpec) -> float:
        """0 when the call may go (a token is taken); else the seconds to wait."""
        ...


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and the runtime serving it."""

    scope: TenantScope
    runtime: TenantRuntime


class AuthError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthenticated(AuthError):
    """No key, or one that is unknown or revoked."""


class TenantNotServed(AuthError):
    """The key is valid but its tenant is not served by this process."""


class RateLimited(AuthError):
    """The key's rate limit is spent: ``wait`` seconds until its next call may go."""

    def __init__(self, scope: TenantScope, wait: float) -> None:
        super().__init__(f"the key's rate limit is exceeded; retry in {wait:.2f} s")
        self.scope, self.wait = scope, wait


async def authenticate(
    service: RuntimeService,
    presented_key: str | None,
    *,
    metered: bool,
    limiter: RateLimit,
    found: TenantScope | None = None,
) -> Principal:
    """The caller of one API call. ``found``: the key's tenant when the caller looked it
    up already (the request guard does, before the body), so it is looked up once.
    ``metered``: count the call for billing (reading one's own bill is free)."""
    if not presented_key:
        raise Unauthenticated(NO_KEY_DETAIL)
    scope = (
        found if found is not None else await service.store.directory.authenticate(presented_key)
    )
    if scope is None:
        raise Unauthenticated(BAD_KEY_DETAIL)
    runtime = service.tenants.get(scope.tenant_id)
    if runtime is None:
        raise TenantNotServed(NOT_SERVED_DETAIL)
    wait = limiter.wait(hash_api_key(presented_key), runtime.spec)
    if wait > 0:
        raise RateLimited(scope, wait)
    if metered:
        service.meter.count(scope.tenant_id)
    return Principal(scope, runtime)
