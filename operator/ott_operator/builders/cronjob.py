"""CronJob ``model-retrain``: ``ottc train --tenant <name> --from-db`` on the tenant's schedule."""

from __future__ import annotations

from ott_operator import labels, naming
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.pod import (
    container_security_context,
    environment,
    pod_security_context,
    resources,
    volume_mounts,
    volumes,
)
from ott_runtime.domain.tenant import StorageMode


def retrain_command(tenant: str) -> list[str]:
    return ["train", "--tenant", tenant, "--from-db"]


def model_retrain_cronjob(ctx: TenantContext) -> Object:
    models = ctx.tenant.spec.scoring.models
    nothing_to_train = not (models.lstm or models.transformer)
    # the model registry is a folder on the data volume the scoring pod shares (embedded
    # storage); with a database elsewhere there is no shared folder to promote models into
    no_registry = ctx.storage_mode is not StorageMode.EMBEDDED
    pod_labels = labels.tenant_labels(ctx.name, "model-retrain")
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": ctx.metadata(naming.MODEL_RETRAIN, component="model-retrain"),
        "spec": {
            "schedule": ctx.tenant.spec.scoring.retrain_schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "suspend": ctx.suspended or nothing_to_train or no_registry,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "backoffLimit": 2,
                    "ttlSecondsAfterFinished": 7 * 24 * 3600,
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "serviceAccountName": naming.SERVICE_ACCOUNT,
                            "automountServiceAccountToken": False,
                            "securityContext": pod_security_context(),
                            "containers": [
                                {
                                    "name": "train",
                                    "image": ctx.settings.runtime_image,
                                    "imagePullPolicy": ctx.settings.image_pull_policy,
                                    "args": retrain_command(ctx.name),
                                    "env": environment(ctx),
                                    "resources": resources(ctx),
                                    "securityContext": container_security_context(),
                                    "volumeMounts": volume_mounts(ctx),
                                }
                            ],
                            "volumes": volumes(ctx),
                        },
                    },
                },
            },
        },
    }
