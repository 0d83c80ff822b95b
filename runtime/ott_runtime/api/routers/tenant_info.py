"""GET /v1/regulations, /v1/usage and /v1/keys: what applies, what it costs, key states."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ott_runtime.api.dependencies import Scope, Service, Tenant
from ott_runtime.api.periods import UsageMonth
from ott_runtime.api.problems import ERROR_RESPONSES
from ott_runtime.api.schemas import KeyStatus, Regulations, Usage, operation_id

router = APIRouter(tags=["tenant"], generate_unique_id_function=operation_id)


# (the pieces built outside the API are plain JSON: response_model checks and documents them)
@router.get(
    "/v1/regulations",
    summary="The tenant's resolved rules, and how each has fared since it was compiled",
    response_model=Regulations,
    responses=ERROR_RESPONSES,
)
async def regulations(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant": tenant.name,
        "regulations": tenant.rules.describe(),
        "health": [health.to_json() for health in tenant.rules.health()],
    }


@router.get(
    "/v1/usage",
    summary="Usage and estimated charge for a month",
    response_model=Usage,
    responses=ERROR_RESPONSES,
)
async def usage(
    scope: Scope,
    service: Service,
    tenant: Tenant,
    month: UsageMonth,
) -> dict[str, Any]:
    start, end = month.start, month.end
    await service.meter.flush()
    async with service.store.read(scope) as data:
        hours = await data.usage.hours(start, end)
    totals = {
        "events": sum(h.events for h in hours),
        "apiCalls": sum(h.api_calls for h in hours),
        "bytes": sum(h.bytes_in for h in hours),
        "ruleEvaluations": sum(h.rule_evaluations for h in hours),
    }
    plan = tenant.spec.plan.value
    return {
        "tenant": scope.tenant_id,
        "period": month.label,
        "plan": plan,
        **totals,
        "estimatedCharge": service.prices.estimate(
            plan, events=totals["events"], api_calls=totals["apiCalls"], bytes_in=totals["bytes"]
        ),
        "hours": [
            {
                "hour": h.hour.isoformat(),
                "events": h.events,
                "apiCalls": h.api_calls,
                "bytes": h.bytes_in,
                "ruleEvaluations": h.rule_evaluations,
            }
            for h in hours
        ],
    }


@router.get(
    "/v1/keys",
    summary="Encryption key versions and states (never material)",
    response_model=KeyStatus,
    responses=ERROR_RESPONSES,
)
async def keys(scope: Scope, service: Service, tenant: Tenant) -> dict[str, Any]:
    description = service.keys.describe(scope.tenant_id)
    async with service.store.read(scope) as data:
        rows = await data.events.key_versions()
    for key in description["keys"]:
        key["encryptedRows"] = rows.get(key["version"], 0)
    description["encryptedFields"] = tenant.encrypted_fields
    description["searchableFields"] = tenant.searchable_fields
    return description
