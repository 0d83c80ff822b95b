"""PodDisruptionBudget of the scoring pods: drains take them one at a time."""

from __future__ import annotations

from ott_operator import labels, naming
from ott_operator.builders.context import Object, TenantContext


def pod_disruption_budget(ctx: TenantContext) -> Object:
    # maxUnavailable (not minAvailable): a one-replica tenant can still be drained
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": ctx.metadata(naming.SCORING, component="scoring"),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": labels.scoring_selector(ctx.name)},
        },
    }
