"""The control plane is a real one: API, RBAC, controllers, CRDs, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from ott_runtime.cli import cli
from ott_runtime.devcluster import ClusterAccess, ControlPlane
from ott_runtime.devcluster.processes import default_sigint, pid_alive

EVENTUALLY_S = 60.0
EXTERNAL = bool(os.environ.get("OTTC_E2E_KUBECONFIG"))
own_control_plane_only = pytest.mark.skipif(
    EXTERNAL, reason="starts and stops its own control plane; not for an external cluster"
)


def eventually(check: Callable[[], bool], what: str, timeout_s: float = EVENTUALLY_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


def get_json(cluster: ClusterAccess, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return result


def gone(cluster: ClusterAccess, *args: str) -> bool:
    result = cluster.kubectl("get", *args, check=False)
    return result.returncode != 0 and "NotFound" in result.stderr


@pytest.fixture
def namespace(control_plane: ClusterAccess) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def test_readyz_reports_every_check_ok(control_plane: ClusterAccess) -> None:
    verbose = control_plane.kubectl("get", "--raw", "/readyz?verbose").stdout
    assert "[+]etcd ok" in verbose
    assert "readyz check passed" in verbose
    assert control_plane.server.startswith("https://")


def test_helm_reaches_the_cluster(control_plane: ClusterAccess, namespace: str) -> None:
    listed = control_plane.helm("list", "--namespace", namespace, "--output", "json")
    assert json.loads(listed.stdout) == []
    missing = control_plane.helm("status", "no-such-release", "-n", namespace, check=False)
    assert missing.returncode != 0
    assert "release: not found" in missing.stderr


def token_kubeconfig(cluster: ClusterAccess, token: str, path: Path) -> Path:
    """The admin kubeconfig's cluster, but authenticated by `token` alone."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster_entry = next(
        c for c in config["clusters"] if c["name"] == context["context"]["cluster"]
    )
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster_entry],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [
                    {"name": "sa", "context": {"cluster": cluster_entry["name"], "user": "sa"}}
                ],
                "current-context": "sa",
            }
        )
    )
    return path


def test_rbac_forbids_a_service_account_until_a_role_binding(
    control_plane: ClusterAccess, namespace: str, tmp_path: Path
) -> None:
    control_plane.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = control_plane.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    as_reader = token_kubeconfig(control_plane, token, tmp_path / "reader.kubeconfig")

    def list_secrets(in_namespace: str) -> subprocess.CompletedProcess[str]:
        return control_plane.kubectl(
            "--kubeconfig", str(as_reader), "get", "secrets", "-n", in_namespace, check=False
        )

    denied = list_secrets(namespace)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    # Authenticated as the service account (the token works), only not authorized.
    assert f"system:serviceaccount:{namespace}:reader" in denied.stderr

    control_plane.kubectl(
        "create", "role", "secret-reader", "--verb=get,list", "--resource=secrets", "-n", namespace
    )
    control_plane.kubectl(
        "create", "rolebinding", "reader-reads-secrets", "--role=secret-reader",
        f"--serviceaccount={namespace}:reader", "-n", namespace,
    )  # fmt: skip
    eventually(lambda: list_secrets(namespace).returncode == 0, "the RoleBinding takes effect")
    assert "Forbidden" in list_secrets("kube-system").stderr  # a Role binds one namespace only


def owned_by(item: dict[str, Any], kind: str, name: str) -> bool:
    return any(
        ref["kind"] == kind and ref["name"] == name
        for ref in item["metadata"].get("ownerReferences", [])
    )


def test_deployment_gets_replicaset_and_pods_and_gc_removes_them(
    control_plane: ClusterAccess, namespace: str
) -> None:
    # No kubelet runs, so the image is never pulled; the name only has to be valid.
    control_plane.kubectl(
        "create", "deployment", "web", "--image=pause:3.10", "--replicas=2", "-n", namespace
    )

    def replicasets() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = get_json(control_plane, "rs", "-n", namespace)["items"]
        return [rs for rs in items if owned_by(rs, "Deployment", "web")]

    eventually(lambda: len(replicasets()) == 1, "the deployment controller makes a ReplicaSet")
    replicaset = replicasets()[0]["metadata"]["name"]

    def pods() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = get_json(control_plane, "pods", "-n", namespace)["items"]
        return [pod for pod in items if owned_by(pod, "ReplicaSet", replicaset)]

    eventually(lambda: len(pods()) == 2, "the replicaset controller makes 2 Pods")

    control_plane.kubectl("delete", "deployment", "web", "-n", namespace, "--wait=false")
    eventually(lambda: gone(control_plane, "rs", replicaset, "-n", namespace), "GC of the RS")
    eventually(lambda: not pods(), "GC of the Pods")


def test_garbage_collector_deletes_dependents_of_a_deleted_owner(
    control_plane: ClusterAccess, namespace: str
) -> None:
    control_plane.kubectl("create", "configmap", "owner", "-n", namespace)
    owner_uid = get_json(control_plane, "configmap", "owner", "-n", namespace)["metadata"]["uid"]
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
    dependents = [
        {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "ownerReferences": [ref]}}
        for kind, name, ref in (
            ("ConfigMap", "dependent", reference),
            ("Secret", "dependent", reference),
        )
    ]
    bystander = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bystander"}}
    manifest = {"apiVersion": "v1", "kind": "List", "items": [*dependents, bystander]}
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    control_plane.kubectl("delete", "configmap", "owner", "-n", namespace)
    eventually(
        lambda: (
            gone(control_plane, "configmap", "dependent", "-n", namespace)
            and gone(control_plane, "secret", "dependent", "-n", namespace)
        ),
        "the garbage collector deletes both dependents",
    )
    control_plane.kubectl("get", "configmap", "bystander", "-n", namespace)  # still there


def test_deleting_a_namespace_finalizes_it(control_plane: ClusterAccess) -> None:
    name = f"e2e-doomed-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    control_plane.kubectl("create", "configmap", "content", "-n", name)
    eventually(
        lambda: (
            control_plane.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0
        ),
        "the serviceaccount controller makes the default ServiceAccount",
    )
    control_plane.kubectl("delete", "namespace", name, "--wait=false")
    eventually(lambda: gone(control_plane, "namespace", name), "the namespace is finalized")


def crd_names_in(manifest: Path) -> set[str]:
    documents = yaml.load_all(manifest.read_text(), Loader=yaml.CSafeLoader)
    return {
        doc["metadata"]["name"]
        for doc in documents
        if doc and doc.get("kind") == "CustomResourceDefinition"
    }


def test_every_thirdparty_crd_is_established_and_served(
    control_plane: ClusterAccess, thirdparty_crds: list[str], thirdparty_crds_dir: Path
) -> None:
    expected: set[str] = set()
    for manifest in sorted(thirdparty_crds_dir.glob("*.yaml")):
        names = crd_names_in(manifest)
        assert names, f"{manifest.name} holds no CRD"
        expected |= names
    assert set(thirdparty_crds) == expected
    installed = {crd["metadata"]["name"]: crd for crd in get_json(control_plane, "crd")["items"]}
    for name in sorted(expected):
        crd = installed[name]
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", name
        assert any(version["served"] for version in crd["spec"]["versions"]), name


def test_compliance_crds_are_served(
    control_plane: ClusterAccess, compliance_crds: list[str]
) -> None:
    assert compliance_crds
    resources = control_plane.kubectl(
        "api-resources", "--api-group=compliance.ott.dev", "-o", "name"
    ).stdout.split()
    assert sorted(resources) == sorted(compliance_crds)


# -- stopping leaves nothing behind -------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, time
    from ott_runtime.devcluster import ControlPlane
    plane = ControlPlane().start()
    pids = [c.pid for c in plane.components]
    print(json.dumps({"pids": pids, "state_dir": str(plane.state_dir)}), flush=True)
    time.sleep(600)
    """
)


@own_control_plane_only
@pytest.mark.parametrize(
    ("how", "state_removed"),
    [(signal.SIGINT, True), (signal.SIGKILL, False)],
    ids=["ctrl-c", "kill-9"],
)
def test_no_orphans_when_the_owner_is_interrupted_or_killed(
    control_plane: ClusterAccess, how: signal.Signals, state_removed: bool
) -> None:
    """Ctrl-C runs the atexit stop; kill -9 leaves it to the parent-death signal."""
    env = {**os.environ, "OTTC_TOOLS_BIN": str(control_plane.bin_dir)}
    owner = subprocess.Popen(  # a Ctrl-C reaches it even when this run ignores SIGINT
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env,
        preexec_fn=default_sigint,
    )  # fmt: skip
    assert owner.stdout is not None
    started = json.loads(owner.stdout.readline() or "{}")
    pids: list[int] = started["pids"]
    assert len(pids) == 3
    assert all(pid_alive(pid) for pid in pids)

    owner.send_signal(how)
    owner.wait(timeout=60)
    eventually(lambda: not any(pid_alive(pid) for pid in pids), "every component exits", 30)
    state_dir = Path(started["state_dir"])
    assert state_dir.exists() != state_removed
    if state_dir.exists():  # kill -9 gave Python no chance to clean up; the test does
        ControlPlane(state_dir=state_dir, bin_dir=control_plane.bin_dir).stop()


@own_control_plane_only
def test_cli_up_status_down(control_plane: ClusterAccess, tmp_path: Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path / "dev-cluster")]
    env = {"OTTC_TOOLS_BIN": str(control_plane.bin_dir)}

    up = runner.invoke(cli, ["dev-cluster", "up", *state], env=env)
    assert up.exit_code == 0, up.output
    assert "export KUBECONFIG=" in up.output
    plane = ControlPlane.attach(tmp_path / "dev-cluster")
    assert plane is not None
    pids = [c.pid for c in plane.components]
    try:
        assert plane.kubectl("get", "namespace", "default").returncode == 0
        again = runner.invoke(cli, ["dev-cluster", "up", "--quiet", *state], env=env)
        assert again.exit_code == 0
        assert again.output.strip() == f"export KUBECONFIG={plane.kubeconfig}"
        assert [c.pid for c in ControlPlane.attach(tmp_path / "dev-cluster").components] == pids
        status = runner.invoke(cli, ["dev-cluster", "status", *state], env=env)
        assert status.exit_code == 0
        assert status.output.count("running") == 3
        assert "(ready)" in status.output
    finally:
        down = runner.invoke(cli, ["dev-cluster", "down", *state], env=env)
    assert down.exit_code == 0, down.output
    assert "stopped (3 processes)" in down.output
    assert not any(pid_alive(pid) for pid in pids)
    assert not (tmp_path / "dev-cluster").exists()
    status = runner.invoke(cli, ["dev-cluster", "status", *state], env=env)
    assert status.exit_code == 1
