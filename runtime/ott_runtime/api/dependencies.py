"""Request dependencies: the runtime service, the authenticated tenant, the rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ott_runtime.api.guards import authenticated_by_guard, presented_key
from ott_runtime.api.metrics import Metrics
from ott_runtime.api.problems import Problem
from ott_runtime.api.ratelimit import retry_after_header
from ott_runtime.auth import RateLimited, TenantNotServed, Unauthenticated, authenticate
from ott_runtime.ingest.tenants import TenantRuntime
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope


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
    # declared for the OpenAPI document; the key is read by api.guards.presented_key
    x_api_key: Annotated[str | None, Security(api_key_header)] = None,
    authorization: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> TenantScope:
    """The tenant of the presented API key (X-API-Key, or Authorization: Bearer)."""
    api_key = presented_key(request.headers)
    route = request.scope.get("route")
    try:
        principal = await authenticate(
            service,
            api_key,
            metered=getattr(route, "path", None) not in UNMETERED_ROUTES,
            limiter=request.app.state.rate_limiter,
            # looked up before the body: one lookup per request
            found=authenticated_by_guard(request.scope, api_key) if api_key else None,
        )
    except Unauthenticated as error:
        raise Problem(401, "Unauthorized", error.detail, "unauthorized", _UNAUTHORIZED) from None
    except TenantNotServed as error:
        raise Problem(403, "Forbidden", error.detail, "tenant-not-served") from None
    except RateLimited as error:
        metrics.rate_limited.labels(error.scope.tenant_id).inc()
        raise Problem(
            429, "Too many requests", error.detail, "rate-limited",
            {"Retry-After": retry_after_header(error.wait)},
        ) from None  # fmt: skip
    return principal.scope


Scope = Annotated[TenantScope, Depends(authenticated_scope)]


def tenant_runtime(scope: Scope, service: Service) -> TenantRuntime:
    return service.tenants[scope.tenant_id]


Tenant = Annotated[TenantRuntime, Depends(tenant_runtime)]
