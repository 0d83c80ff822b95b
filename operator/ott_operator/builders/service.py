"""Service ``scoring`` in front of a dedicated tenant's pods."""

from __future__ import annotations

from ott_operator import labels, naming
from ott_operator.builders.context import Object, TenantContext

SERVICE_PORT = 80


def service(ctx: TenantContext) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(naming.SCORING, component="scoring"),
        "spec": {
            "type": "ClusterIP",
            "selector": labels.scoring_selector(ctx.name),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }
