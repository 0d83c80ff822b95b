"""Deployment ``scoring``: the runtime image serving one dedicated tenant."""

from __future__ import annotations

from ott_operator import labels, naming
from ott_operator.builders.config import config_digest
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.pod import (
    HTTP_PORT,
    container_security_context,
    environment,
    pod_security_context,
    resources,
    volume_mounts,
    volumes,
    webhook_volume_mounts,
    webhook_volumes,
)
from ott_runtime.domain.tenant import StorageMode


def _probe(path: str, period: int, failures: int) -> Object:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def pod_template(ctx: TenantContext) -> Object:
    """Everything here is a rollout when it changes: it reads only what the pods need."""
    selector = labels.scoring_selector(ctx.name)
    container: Object = {
        "name": "scoring",
        "image": ctx.settings.runtime_image,
        "imagePullPolicy": ctx.settings.image_pull_policy,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": environment(ctx),
        "resources": resources(ctx),
        "securityContext": container_security_context(),
        # webhook signing secrets only for the scoring pods (the retrain job sends none);
        # none when there are no webhooks, so the template is unchanged for those tenants
        "volumeMounts": volume_mounts(ctx) + webhook_volume_mounts(ctx),
        # models load before the first request: up to 5 minutes to start
        "startupProbe": _probe("/healthz", period=5, failures=60),
        "readinessProbe": _probe("/readyz", period=10, failures=3),
        "livenessProbe": _probe("/healthz", period=20, failures=3),
    }
    return {
        "metadata": {
            "labels": {**labels.tenant_labels(ctx.name, "scoring"), **selector},
            "annotations": {labels.CONFIG_DIGEST: config_digest(ctx)},
        },
        "spec": {
            "serviceAccountName": naming.SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(),
            "containers": [container],
            "volumes": volumes(ctx) + webhook_volumes(ctx),
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": key,
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ],
        },
    }


def deployment(ctx: TenantContext) -> Object:
    spec: Object = {
        "selector": {"matchLabels": labels.scoring_selector(ctx.name)},
        "template": pod_template(ctx),
        "revisionHistoryLimit": 5,
    }
    if ctx.storage_mode is StorageMode.EMBEDDED:
        # the old pod must release the SQLite volume before the new one starts
        spec["strategy"] = {"type": "Recreate"}
    else:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
    if ctx.suspended:
        spec["replicas"] = 0
    elif not ctx.autoscaled:
        spec["replicas"] = ctx.replica_bounds[0]
    # else: the HPA owns spec.replicas; applying it here would fight the autoscaler
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ctx.metadata(naming.SCORING, component="scoring"),
        "spec": spec,
    }
