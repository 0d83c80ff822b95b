"""GET /v1/models: which model versions score the tenant's events, and what was refused;
``series``: the live events-per-minute detector, its latest forecasts and scores."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ott_runtime.api.dependencies import Scope, Service
from ott_runtime.api.problems import ERROR_RESPONSES
from ott_runtime.api.schemas import ModelsStatus, operation_id
from ott_runtime.scoring.models import ModelRiskScorer
from ott_runtime.scoring.series import SeriesScoring

router = APIRouter(tags=["models"], generate_unique_id_function=operation_id)


@router.get(
    "/v1/models",
    summary="Model versions in service for the tenant, and any refused promotion",
    response_model=ModelsStatus,  # the scorers' status is plain JSON: checked and documented
    responses=ERROR_RESPONSES,
)
async def models(scope: Scope, service: Service) -> dict[str, Any]:
    scorer = service.pipeline.scorer
    if isinstance(scorer, ModelRiskScorer):
        series = SeriesScoring.of(service)
        return {
            "tenant": scope.tenant_id,
            **scorer.status(scope.tenant_id),
            "series": series.status(scope.tenant_id) if series else {"enabled": False},
        }
    return {
        "tenant": scope.tenant_id,
        "enabled": False,
        "state": "off: this runtime has no model registry (set OTTC_MODEL_DIR)",
    }
