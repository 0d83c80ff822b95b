"""Pod pieces shared by the scoring Deployment and the model-retrain CronJob.

Restricted Pod Security: non-root (the image's uid 10001), read-only root filesystem,
no privilege escalation, no capabilities, RuntimeDefault seccomp. Writable paths are
volumes: /tmp (emptyDir) and, for embedded storage, the data PVC.
"""

from __future__ import annotations

from ott_operator import naming
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.storage import DATA_DIR, database_url_env
from ott_runtime.domain.tenant import StorageMode

RUNTIME_UID = 10001
HTTP_PORT = 8080
CONFIG_DIR = "/etc/ottc/config"
KEYS_DIR = "/etc/ottc/keys"


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


def environment(ctx: TenantContext) -> list[Object]:
    return [
        {"name": "OTTC_TENANT", "value": ctx.name},
        {"name": "OTTC_CONFIG_DIR", "value": CONFIG_DIR},
        {"name": "OTTC_KEYS_DIR", "value": KEYS_DIR},
        database_url_env(ctx),
    ]


def resources(ctx: TenantContext) -> Object:
    plan = ctx.plan.scoring_resources
    return {
        "requests": {"cpu": plan.cpu_request, "memory": plan.memory_request},
        "limits": {"cpu": plan.cpu_limit, "memory": plan.memory_limit},
    }
