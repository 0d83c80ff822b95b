"""Request dependencies: the runtime service, the authenticated tenant, the rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ott_runtime.api.guards import authenticated_by_guard
from ott_runtime.api.metrics import Metrics
from ott_runtime.api.problems import Problem
from ott_runtime.api.ratelimit import RateLimiter, per_second_for, retry_after_header
from ott_runtime.ingest.service import RuntimeService
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.storage import TenantScope
from ott_runtime.storage.directory import hash_api_key


def get_service(request: Request) -> RuntimeService:
    service: RuntimeService = request.app.state.service
    return service


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


Service = Annotated[RuntimeService, Depends(get_service)]
AppMetrics = Annotated[Metrics, Depends(get_metrics)]

_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="ottc"'}


# Security schemes (not plain header parameters), so the OpenAPI document says how to
# authenticate and the docs page offers an "Authorize" button.
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The tenant's API key."
)
# reading one's own bill is not billed (the operator also reads it for status.usage)
UNMETERED_ROUTES = frozenset({"/v1/usage"})
bearer = HTTPBearer(auto_error=False, description="The tenant's API key as a bearer token.")


async def authenticated_scope(
    request: Request,
    service: Service,
    metrics: AppMetrics,
    x_api_key: Annotated[str | None, Security(api_key_header)] = None,
    authorization: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> TenantScope:
    """The tenant of the presented API key (X-API-Key, or Authorization: Bearer)."""
    api_key = x_api_key or (authorization.credentials if authorization else None)
    if not api_key:
        raise Problem(
            401,
            "Unauthorized",
            "send the tenant's API key in X-API-Key",
            "unauthorized",
            _UNAUTHORIZED,
        )
    scope = authenticated_by_guard(request.scope, api_key)  # looked up before the body
    scope = scope or await service.store.directory.authenticate(api_key)
    if scope is None:
        raise Problem(
            401, "Unauthorized", "the API key is unknown or revoked", "unauthorized", _UNAUTHORIZED
        )
    runtime = service.tenants.get(scope.tenant_id)
    if runtime is None:
        raise Problem(403, "Forbidden", "this key's tenant is not served here", "tenant-not-served")
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(hash_api_key(api_key), per_second_for(runtime.spec))
    if wait > 0:
        metrics.rate_limited.labels(scope.tenant_id).inc()
        raise Problem(
            429, "Too many requests", f"the key's rate limit is exceeded; retry in {wait:.2f} s",
            "rate-limited", {"Retry-After": retry_after_header(wait)},
        )  # fmt: skip
    route = request.scope.get("route")
    if getattr(route, "path", None) not in UNMETERED_ROUTES:
        service.meter.count(scope.tenant_id)
    return scope


Scope = Annotated[TenantScope, Depends(authenticated_scope)]


def tenant_runtime(scope: Scope, service: Service) -> TenantRuntime:
    return service.tenants[scope.tenant_id]


Tenant = Annotated[TenantRuntime, Depends(tenant_runtime)]
