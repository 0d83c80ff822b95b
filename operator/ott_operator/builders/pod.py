"""Pod pieces shared by the scoring Deployment and the model-retrain CronJob.

Restricted Pod Security: non-root (the image's uid 10001), read-only root filesystem,
no privilege escalation, no capabilities, RuntimeDefault seccomp. Writable paths are
volumes: /tmp (emptyDir) and, for embedded storage, the data PVC.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from ott_operator import naming
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.storage import DATA_DIR, database_url_env
from ott_runtime.domain.tenant import StorageMode

RUNTIME_UID = 10001
HTTP_PORT = 8080
CONFIG_DIR = "/etc/ottc/config"
KEYS_DIR = "/etc/ottc/keys"
# where the runtime's notifications read <secret name>/<key> (WebhookSecrets' default)
WEBHOOK_SECRETS_DIR = "/var/run/secrets/ottc/webhooks"
SECRET_FILE_MODE = 0o440  # owner root, group fsGroup (the runtime's uid 10001)


def pod_security_context() -> Object:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
        "fsGroup": RUNTIME_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Object:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def volumes(ctx: TenantContext) -> list[Object]:
    result: list[Object] = [
        {"name": "config", "configMap": {"name": ctx.names.config_map}},
        # the runtime watches the mounted file, so a rotation needs no restart
        {"name": "keys", "secret": {"secretName": ctx.names.keys_secret}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if ctx.storage_mode is StorageMode.EMBEDDED:
        result.append({"name": "data", "persistentVolumeClaim": {"claimName": naming.DATA_VOLUME}})
    return result


def volume_mounts(ctx: TenantContext) -> list[Object]:
    mounts: list[Object] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        # KeyStore.from_directory reads <dir>/<tenant>/keyring.json
        {"name": "keys", "mountPath": f"{KEYS_DIR}/{ctx.name}", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if ctx.storage_mode is StorageMode.EMBEDDED:
        mounts.append({"name": "data", "mountPath": DATA_DIR})
    return mounts


def _webhook_keys(ctx: TenantContext) -> dict[str, list[str]]:
    """Signing Secret name -> the keys the tenant's webhooks use, both sorted."""
    keys: defaultdict[str, set[str]] = defaultdict(set)
    for webhook in ctx.tenant.spec.notifications.webhooks:
        keys[webhook.secret_ref.name].add(webhook.secret_ref.key)
    return {name: sorted(keys[name]) for name in sorted(keys)}


def webhook_volume_name(secret_name: str) -> str:
    """A valid volume name for any Secret name (those may be 253 characters, volumes 63)."""
    return "webhook-" + hashlib.sha256(secret_name.encode()).hexdigest()[:12]


def webhook_volumes(ctx: TenantContext) -> list[Object]:
    """One volume per signing Secret, holding only the keys the webhooks name. Optional: a
    missing Secret must not keep scoring down; deliveries needing it fail as dead letters
    (re-queueable), and the kubelet fills the volume once the Secret exists."""
    return [
        {
            "name": webhook_volume_name(name),
            "secret": {
                "secretName": name,
                "items": [{"key": key, "path": key} for key in keys],
                "defaultMode": SECRET_FILE_MODE,
                "optional": True,
            },
        }
        for name, keys in _webhook_keys(ctx).items()
    ]


def webhook_volume_mounts(ctx: TenantContext) -> list[Object]:
    return [
        {
            "name": webhook_volume_name(name),
            "mountPath": f"{WEBHOOK_SECRETS_DIR}/{name}",
            "readOnly": True,
        }
        for name in _webhook_keys(ctx)
    ]


def environment(ctx: TenantContext) -> list[Object]:
    return [
        {"name": "OTTC_TENANT", "value": ctx.name},
        {"name": "OTTC_CONFIG_DIR", "value": CONFIG_DIR},
        {"name": "OTTC_KEYS_DIR", "value": KEYS_DIR},
        database_url_env(ctx),
        *model_environment(ctx),
        *tracing_environment(ctx),
    ]


def model_environment(ctx: TenantContext) -> list[Object]:
    """Where `ottc train` (the CronJob) registers models and `ottc serve` loads them: the
    data volume both mount. Only embedded storage has one; elsewhere the runtime scores
    without models (ott_runtime.scoring)."""
    if ctx.storage_mode is StorageMode.EMBEDDED:
        return [{"name": "OTTC_MODEL_DIR", "value": f"{DATA_DIR}/models"}]
    return []


def tracing_environment(ctx: TenantContext) -> list[Object]:
    """The standard OTEL_* variables the runtime reads; none when tracing is off, so the
    runtime starts no exporter. The tenant rides along as a resource attribute so traces
    of every tenant's runtime can be told apart in one Jaeger."""
    tracing = ctx.settings.tracing
    if not tracing.endpoint:
        return []
    return [
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": tracing.endpoint},
        {"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": tracing.protocol},
        {"name": "OTEL_TRACES_SAMPLER_ARG", "value": f"{tracing.sampler_ratio:g}"},
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": f"ottc.tenant={ctx.name}"},
    ]


def resources(ctx: TenantContext) -> Object:
    plan = ctx.plan.scoring_resources
    return {
        "requests": {"cpu": plan.cpu_request, "memory": plan.memory_request},
        "limits": {"cpu": plan.cpu_limit, "memory": plan.memory_limit},
    }
