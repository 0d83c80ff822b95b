"""The pool serves pooled tenants from what the operator writes: `ottc pool-sync`, run with a
ServiceAccount token bound to the chart's pool Role, follows the operator builders' ConfigMap
and Secrets (and a webhook signing Secret) into one folder per tenant on a real API server;
`ottc serve` on those folders serves each tenant with its own key and data only, and drops a
tenant whose objects are deleted, without a restart."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from ott_operator.builders.config import config_map
from ott_operator.builders.context import TenantContext
from ott_operator.builders.secrets import api_key_secret, keys_secret
from ott_operator.settings import OperatorSettings
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.rules import resolve_rules
from ott_runtime.domain.tenant import ComplianceTenant

from .runtime_process import OTTC, serve, stop

if TYPE_CHECKING:
    from ott_runtime.devcluster import ClusterAccess

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "ott-compliance"
NAMESPACE = "ottc-e2e-poolsync"
TENANTS = ("pool-alpha", "pool-beta")
HOOK_SECRET = "alpha-hook"


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _contexts() -> dict[str, TenantContext]:
    sets, tenants = load_resources(
        [REPO / "examples" / "regulationsets", REPO / "examples" / "tenants"]
    )
    template = tenants["tinytoons"].model_dump(by_alias=True, mode="json", exclude_none=True)
    contexts = {}
    for name in TENANTS:
        document = json.loads(json.dumps(template))
        document["metadata"] = {"name": name}
        spec = document["spec"]
        spec["isolation"] = "pooled"
        spec.pop("storage", None)
        spec["scoring"].pop("replicas", None)  # the pool scales on its own
        spec["notifications"] = {"webhooks": []}
        if name == TENANTS[0]:
            ref = {"name": HOOK_SECRET, "key": "hmac"}
            spec["notifications"]["webhooks"] = [
                {"url": "https://hooks.example/alpha", "secretRef": ref}
            ]
        tenant = ComplianceTenant.model_validate(document)
        contexts[name] = TenantContext(
            tenant=tenant,
            settings=OperatorSettings(pool_namespace=NAMESPACE),
            rules_config=resolve_rules(tenant.spec, sets).to_config(),
            keyring=KeyRing.generate(name),
            api_key=f"ottc_{name.replace('-', '')}_" + "k" * 32,
        )
    return contexts


@contextlib.contextmanager
def _delete_objects(cluster: ClusterAccess, ctx: TenantContext) -> None:
    for kind, name in (("configmap", ctx.names.config_map),
                       ("secret", ctx.names.keys_secret),
                       ("secret", ctx.names.api_key_secret)):  # fmt: skip
        cluster.kubectl("delete", kind, name, "-n", NAMESPACE, "--ignore-not-found")


def _apply(cluster: ClusterAccess, *objects: dict[str, Any]) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(document))


@pytest.fixture(scope="module")
def pool_kubeconfig(
    control_plane: ClusterAccess,
    compliance_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The chart's pool ServiceAccount, Role and RoleBinding in a fresh namespace, and a
    kubeconfig that authenticates as that ServiceAccount (a bound token, as in a pod)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(namespace))
    rendered = control_plane.helm(
        "template", "ottc-e2e-pool", str(CHART), "--namespace", NAMESPACE,
        "--show-only", "templates/pool-rbac.yaml", "--kube-version", "1.34.4",
    ).stdout  # fmt: skip
    control_plane.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=rendered)
    account = next(
        d["metadata"]["name"]
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] == "ServiceAccount"
    )
    token = control_plane.kubectl(
        "create", "token", account, "-n", NAMESPACE, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    cluster_entry = admin["clusters"][0]["cluster"]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": cluster_entry}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "pool", "context": {"cluster": "e2e", "user": account}}],
        "current-context": "pool",
    }
    path = tmp_path_factory.mktemp("pool-sa") / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    path.chmod(0o600)
    return path


def _can_i(cluster: ClusterAccess, kubeconfig: Path, *args: str) -> bool:
    result = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", *args, check=False)
    return result.stdout.strip() == "yes"


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    names = ("config", "keys", "api-keys", "webhooks")
    return {name: tmp_path / name for name in names}


@pytest.fixture
def pool_sync(
    pool_kubeconfig: Path, folders: dict[str, Path], tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "pool-sync.log").open("wb")
    process = subprocess.Popen(
        [
            str(OTTC), "pool-sync", "--namespace", NAMESPACE,
            "--kubeconfig", str(pool_kubeconfig), "--resync-seconds", "30",
            "--config-dir", str(folders["config"]), "--keys-dir", str(folders["keys"]),
            "--api-keys-dir", str(folders["api-keys"]),
            "--webhook-secrets-dir", str(folders["webhooks"]),
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield process
    finally:
        stop(process)
        log.close()
        print((tmp_path / "pool-sync.log").read_text()[-4000:])


def test_pool_role_allows_listing_and_watching_only(
    control_plane: ClusterAccess, pool_kubeconfig: Path
) -> None:
    for verb in ("list", "watch"):
        for resource in ("configmaps", "secrets"):
            assert _can_i(control_plane, pool_kubeconfig, verb, resource, "-n", NAMESPACE)
    assert not _can_i(control_plane, pool_kubeconfig, "get", "secrets", "-n", NAMESPACE)
    assert not _can_i(control_plane, pool_kubeconfig, "create", "configmaps", "-n", NAMESPACE)
    assert not _can_i(control_plane, pool_kubeconfig, "list", "secrets", "-n", "default")


def test_folders_follow_the_objects_and_serve_each_tenant(
    control_plane: ClusterAccess,
    pool_sync: subprocess.Popen[bytes],
    folders: dict[str, Path],
    tmp_path: Path,
) -> None:
    contexts = _contexts()
    alpha, beta = (contexts[name] for name in TENANTS)
    hook = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": HOOK_SECRET, "namespace": NAMESPACE},
        "stringData": {"hmac": "first-secret"},
    }  # fmt: skip
    _apply(control_plane, hook)
    for ctx in contexts.values():
        _apply(control_plane, config_map(ctx), keys_secret(ctx), api_key_secret(ctx))

    def synced(ctx: TenantContext) -> bool:
        key = folders["api-keys"] / ctx.name / "key"
        return (
            (folders["config"] / ctx.name / "tenant.json").exists()
            and (folders["keys"] / ctx.name / "keyring.json").exists()
            and key.exists()
            and key.read_text() == ctx.api_key
        )

    _wait_for(lambda: all(synced(c) for c in contexts.values()), "both tenants' folders")
    for ctx in contexts.values():
        ring = KeyRing.from_json((folders["keys"] / ctx.name / "keyring.json").read_bytes())
        assert ring.tenant == ctx.name
        written = json.loads((folders["config"] / ctx.name / "tenant.json").read_text())
        assert written == json.loads(config_map(ctx)["data"]["tenant.json"])
    hook_file = folders["webhooks"] / HOOK_SECRET / "hmac"
    _wait_for(hook_file.exists, "the webhook signing secret")
    assert hook_file.read_text() == "first-secret"

    # updates: a new API key for alpha, a new signing secret (picked up with alpha's config)
    rotated = TenantContext(
        tenant=alpha.tenant, settings=alpha.settings, rules_config=alpha.rules_config,
        keyring=alpha.keyring, api_key="ottc_poolalpha_rotated_" + "r" * 24,
    )  # fmt: skip
    _apply(control_plane, api_key_secret(rotated))
    _wait_for(lambda: synced(rotated), "alpha's new API key")
    before = (folders["config"] / alpha.name / "rules.json").stat().st_mtime_ns
    _apply(control_plane, config_map(alpha))  # the same data again: nothing rewritten
    time.sleep(1.0)
    assert (folders["config"] / alpha.name / "rules.json").stat().st_mtime_ns == before
    # a new signing secret is copied with the next change of a config that names it
    hook["stringData"] = {"hmac": "second-secret"}
    _apply(control_plane, hook)
    changed = config_map(alpha)
    settings = json.loads(changed["data"]["tenant.json"])
    settings["notifications"]["webhooks"][0]["minSeverity"] = "critical"
    changed["data"]["tenant.json"] = json.dumps(settings)
    _apply(control_plane, changed)
    _wait_for(lambda: hook_file.read_text() == "second-secret", "the new signing secret")

    # serve the folders: each key works and sees only its tenant's data
    env = {
        "OTTC_CONFIG_DIR": str(folders["config"]),
        "OTTC_KEYS_DIR": str(folders["keys"]),
        "OTTC_API_KEYS_DIR": str(folders["api-keys"]),
        "OTTC_WEBHOOK_SECRETS_DIR": str(folders["webhooks"]),
        "OTTC_CONFIG_RELOAD_SECONDS": "1",
    }
    try:
        with serve(env, tmp_path) as client:
            keys = {alpha.name: rotated.api_key, beta.name: beta.api_key}
            assert (
                client.get("/v1/violations", headers={"X-API-Key": alpha.api_key}).status_code
                == 401
            )
            for name, key in keys.items():
                event = {
                    "specVersion": "1", "id": f"evt-{name}", "type": "ad.impression",
                    "time": "2026-11-26T18:00:00Z",
                    "viewer": {"id": "kid-1", "isKidsProfile": True, "age": 8},
                    "geo": {"country": "US"}, "content": {"id": "t1", "madeForKids": True},
                    "ad": {"id": "a1", "targeted": True, "durationSeconds": 15},
                }  # fmt: skip
                response = client.post("/v1/events", json=[event], headers={"X-API-Key": key})
                assert response.status_code == 200, response.text
            for name, key in keys.items():
                listed = client.get("/v1/violations", headers={"X-API-Key": key})
                assert listed.status_code == 200, listed.text
                assert {v["eventId"] for v in listed.json()["items"]} == {f"evt-{name}"}

            # beta's objects go: its folders go, and the running server stops serving it
            _delete_objects(control_plane, beta)
            _wait_for(
                lambda: (
                    not any(
                        (folders[f] / beta.name).exists() for f in ("config", "keys", "api-keys")
                    )
                ),
                "beta's folders to go",
            )

            def beta_refused() -> bool:
                status = client.get("/v1/violations", headers={"X-API-Key": beta.api_key})
                return status.status_code == 403

            _wait_for(beta_refused, "the server to drop beta")
            still = client.get("/v1/violations", headers={"X-API-Key": rotated.api_key})
            assert still.status_code == 200
    finally:
        for ctx in contexts.values():
            _delete_objects(control_plane, ctx)


def test_serve_in_the_pool_syncs_by_itself(
    control_plane: ClusterAccess, pool_kubeconfig: Path, folders: dict[str, Path], tmp_path: Path
) -> None:
    """The chart's way: `ottc serve` with OTTC_POOL_NAMESPACE lists the tenants before it
    starts and takes on one created while it serves."""
    contexts = _contexts()
    alpha, beta = (contexts[name] for name in TENANTS)
    env = {
        "OTTC_POOL_NAMESPACE": NAMESPACE,
        "KUBECONFIG": str(pool_kubeconfig),
        "OTTC_CONFIG_DIR": str(folders["config"]),
        "OTTC_KEYS_DIR": str(folders["keys"]),
        "OTTC_API_KEYS_DIR": str(folders["api-keys"]),
        "OTTC_WEBHOOK_SECRETS_DIR": str(folders["webhooks"]),
        "OTTC_CONFIG_RELOAD_SECONDS": "1",
    }
    _apply(control_plane, config_map(alpha), keys_secret(alpha), api_key_secret(alpha))
    try:
        with serve(env, tmp_path) as client:
            # alpha was on disk before the service loaded its tenants
            assert (
                client.get("/v1/violations", headers={"X-API-Key": alpha.api_key}).status_code
                == 200
            )
            assert (
                client.get("/v1/violations", headers={"X-API-Key": beta.api_key}).status_code == 401
            )
            _apply(control_plane, config_map(beta), keys_secret(beta), api_key_secret(beta))

            def beta_served() -> bool:
                response = client.get("/v1/violations", headers={"X-API-Key": beta.api_key})
                return response.status_code == 200

            _wait_for(beta_served, "the pool to take beta on")
            assert (folders["keys"] / beta.name / "keyring.json").exists()
    finally:
        for ctx in contexts.values():
            _delete_objects(control_plane, ctx)
