"""The real operator (`ottc operator`, a subprocess) against the real control plane, with the
least-privilege ClusterRole from the chart: its ServiceAccount's token, never admin.

The admin identity (``control_plane``) only sets the stage (namespaces, the shared pool's
Deployment, RegulationSets) and inspects the results.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import yaml

from ..runtime_process import free_port

if TYPE_CHECKING:
    from ott_runtime.devcluster import ClusterAccess

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "ott-compliance"
OPERATOR_NAMESPACE = "ott-compliance-system"
POOL_NAMESPACE = "ottc-pool"
SERVICE_ACCOUNT = "ott-compliance-operator"
PEERING = "ott-compliance"
SETTLE_TIMEOUT = 60.0
RUNTIME_PORT = free_port()
T = TypeVar("T")

SETTINGS = {
    "runtimeImage": "example.invalid/ottc:e2e",
    "poolNamespace": POOL_NAMESPACE,
    "poolService": "ottc-pool",
    "operatorNamespace": OPERATOR_NAMESPACE,
    "gatewayNamespace": "kong",
    "driftInterval": "3s",
    "rotationCheckInterval": "2s",
    "missingSetRetry": "2s",
    # a replica killed with -9 cannot leave the peering: the next one waits this long
    "peeringLifetime": "10s",
    # no pods run here: test_usage serves the pool's tenants from a local `ottc serve`
    "runtimeUrl": f"http://127.0.0.1:{RUNTIME_PORT}",
    "usageInterval": "2s",
    "usageTimeout": "2s",
}


def wait_for(
    probe: Callable[[], T | None], *, timeout: float = SETTLE_TIMEOUT, what: str = ""
) -> T:
    """Poll until ``probe`` returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or probe}: last {last!r}")


class Cluster:
    """kubectl as admin, returning parsed JSON."""

    def __init__(self, access: ClusterAccess) -> None:
        self.access = access

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json", "--show-managed-fields"]
        if namespace:
            args += ["-n", namespace]
        result = self.access.kubectl(*args, check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise RuntimeError(result.stderr)
        found: dict[str, Any] = json.loads(result.stdout)
        return found

    def items(self, kind: str, *args: str) -> list[dict[str, Any]]:
        out = self.access.kubectl("get", kind, *args, "-o", "json").stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def apply(self, document: dict[str, Any] | str) -> None:
        text = document if isinstance(document, str) else yaml.safe_dump(document)
        self.access.kubectl("apply", "-f", "-", input=text)

    def tenant(self, name: str) -> dict[str, Any] | None:
        return self.get("compliancetenant", name)

    def condition(self, tenant: str, kind: str) -> dict[str, Any] | None:
        body = self.tenant(tenant) or {}
        conditions = (body.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == kind), None)

    def wait_condition(
        self, tenant: str, kind: str, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = self.condition(tenant, kind)
            if found and found["status"] == status and reason in (None, found.get("reason")):
                return found
            return None

        return wait_for(probe, what=f"{tenant}: {kind}={status} {reason or ''}")

    def events(self, name: str) -> list[dict[str, Any]]:
        return self.items("events", "-A", "--field-selector", f"involvedObject.name={name}")


class OperatorProcess:
    """``ottc operator`` as a child process; its whole log is kept for inspection."""

    def __init__(self, kubeconfig: Path, settings: Path, log_path: Path, priority: int) -> None:
        self.kubeconfig = kubeconfig
        self.settings = settings
        self.log_path = log_path
        self.priority = priority
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        ottc = shutil.which("ottc", path=str(Path(sys.executable).parent)) or "ottc"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    ottc,
                    "operator",
                    f"--settings={self.settings}",
                    f"--peering={PEERING}",
                    f"--priority={self.priority}",
                    "--verbose",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _render_cluster_role(access: ClusterAccess, work: Path) -> dict[str, Any]:
    """The chart's ClusterRole as Helm renders it (a throwaway chart holding only the role
    and the helpers it includes, so the rest of the chart cannot break this suite)."""
    chart = work / "chart"
    (chart / "templates").mkdir(parents=True)
    shutil.copy(CHART / "Chart.yaml", chart / "Chart.yaml")
    for name in ("_helpers.tpl", "operator-clusterrole.yaml"):
        shutil.copy(CHART / "templates" / name, chart / "templates" / name)
    rendered = access.helm(
        "template",
        "ott-compliance",
        str(chart),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--kube-version",
        "1.34.0",
    ).stdout
    (role,) = [d for d in yaml.safe_load_all(rendered) if d]
    assert role["kind"] == "ClusterRole"
    return dict(role)


def _service_account_kubeconfig(access: ClusterAccess, token: str, path: Path) -> None:
    admin = yaml.safe_load(access.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": cluster["name"], "user": "operator"}}
        ],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    """``wait_for(probe, timeout=..., what=...)`` for the tests."""
    return wait_for


@pytest.fixture(scope="package")
def cluster(
    control_plane: ClusterAccess, thirdparty_crds: list[str], compliance_crds: list[str]
) -> Iterator[Cluster]:
    cluster = Cluster(control_plane)
    namespaces = (OPERATOR_NAMESPACE, POOL_NAMESPACE, "kong")
    for namespace in namespaces:
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    yield cluster
    # the control plane is shared with the rest of the e2e suite (the Helm tests install
    # into the same namespace): leave it as this package found it
    control_plane.kubectl("delete", "namespace", *namespaces, "--ignore-not-found", "--timeout=90s")


@pytest.fixture(scope="package")
def operator_identity(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(kubeconfig of the operator's ServiceAccount, the ClusterRole it is bound to)."""
    access = cluster.access
    work = tmp_path_factory.mktemp("operator-rbac")
    role = _render_cluster_role(access, work)
    access.kubectl("apply", "-f", "-", input=yaml.safe_dump(role))
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE},
        }
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role["metadata"]["name"]},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role["metadata"]["name"],
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE}
            ],
        }
    )
    token = access.kubectl(
        "create", "token", SERVICE_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration=2h"
    ).stdout.strip()
    kubeconfig = work / "operator.kubeconfig"
    _service_account_kubeconfig(access, token, kubeconfig)
    yield kubeconfig, role
    name = role["metadata"]["name"]
    access.kubectl("delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found")


@pytest.fixture(scope="package")
def stage(cluster: Cluster) -> Iterator[Cluster]:
    """What the chart would have installed before any tenant: the shared pool's Deployment
    and Service, and the example RegulationSets."""
    labels = {"app.kubernetes.io/name": "ottc-pool"}
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "ottc-pool", "namespace": POOL_NAMESPACE},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {"containers": [{"name": "pool", "image": "example.invalid/ottc"}]},
                },
            },
        }
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ottc-pool", "namespace": POOL_NAMESPACE},
            "spec": {"selector": dict(labels), "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    cluster.access.kubectl("apply", "-f", str(REPO / "examples" / "regulationsets"))
    # replicas elect one active operator through kopf peering, as the chart deploys them
    cluster.access.apply_crds(CHART / "crds" / "kopf-peering.yaml")
    cluster.apply(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}}
    )
    yield cluster
    access = cluster.access
    access.kubectl("delete", "clusterkopfpeering", PEERING, "--ignore-not-found")
    access.kubectl("delete", "-f", str(REPO / "examples" / "regulationsets"), "--ignore-not-found")


@pytest.fixture(scope="package")
def operator(
    stage: Cluster,
    operator_identity: tuple[Path, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    work = tmp_path_factory.mktemp("operator")
    settings = work / "settings.yaml"
    settings.write_text(yaml.safe_dump(SETTINGS))
    process = OperatorProcess(operator_identity[0], settings, work / "operator.log", priority=100)
    process.start()
    try:
        yield process
        # tenants carry the operator's finalizer: delete them while it still runs
        stage.access.kubectl("delete", "ctenant", "--all", "--timeout=90s")
    finally:
        process.stop()
        log = process.log()
        # a crash of the operator must not pass unnoticed
        assert "Traceback" not in log or "KeyboardInterrupt" in log, log[-4000:]


@pytest.fixture(scope="package")
def example_tenants(operator: OperatorProcess, stage: Cluster) -> list[str]:
    """The example tenants, applied once and provisioned (keys and rules settled)."""
    stage.access.kubectl("apply", "-f", str(REPO / "examples" / "tenants"))
    names = [
        yaml.safe_load(p.read_text())["metadata"]["name"]
        for p in sorted((REPO / "examples" / "tenants").glob("*.yaml"))
    ]
    for name in names:
        stage.wait_condition(name, "RegulationsResolved", "True", "Resolved")
        stage.wait_condition(name, "KeysReady", "True")
        stage.wait_condition(name, "ScoringAvailable", "False", "WaitingForPods")
    return names
