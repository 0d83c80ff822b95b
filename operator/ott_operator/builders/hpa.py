"""HorizontalPodAutoscaler (autoscaling/v2) of the scoring Deployment, from spec.scoring."""

from __future__ import annotations

from ott_operator import naming
from ott_operator.builders.context import Object, TenantContext


def horizontal_pod_autoscaler(ctx: TenantContext) -> Object:
    minimum, maximum = ctx.replica_bounds
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": ctx.metadata(naming.SCORING, component="scoring"),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": naming.SCORING,
            },
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": ctx.tenant.spec.scoring.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
    }
