"""GET /v1/models: which model versions score the tenant's events, and what was refused;
``series``: the live events-per-minute detector, its latest forecasts and scores."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ott_runtime.api.dependencies import Scope
from ott_runtime.api.problems import ERROR_RESPONSES
from ott_runtime.api.schemas import ModelsStatus, operation_id
from ott_runtime.scoring import ModelScoring

router = APIRouter(tags=["models"], generate_unique_id_function=operation_id)


def get_model_scoring(request: Request) -> ModelScoring | None:
    scoring: ModelScoring | None = request.app.state.model_scoring
    return scoring


@router.get(
    "/v1/models",
    summary="Model versions in service for the tenant, and any refused promotion",
    response_model=ModelsStatus,  # the scorers' status is plain JSON: checked and documented
    responses=ERROR_RESPONSES,
)
async def models(
    scope: Scope, scoring: Annotated[ModelScoring | None, Depends(get_model_scoring)]
) -> dict[str, Any]:
    if scoring is None:
        return {
            "tenant": scope.tenant_id,
            "enabled": False,
            "state": "off: this runtime has no model registry (set OTTC_MODEL_DIR)",
        }
    return scoring.status(scope.tenant_id)
