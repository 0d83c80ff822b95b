"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

No kubelet and no nodes: Deployments get ReplicaSets and Pods objects, Jobs get
Pods, namespaces finalize, garbage collection runs, RBAC and service-account
tokens are enforced exactly as in a cluster; no container ever runs.

Two modes share the code:
- attached (tests): a temporary state dir, children die with the Python
  process (parent-death signal, atexit, `stop()`), state removed on stop;
- detached (`ottc dev-cluster up`): a fixed state dir with `state.json`, the
  children outlive the command, `ControlPlane.attach(dir)` finds them again.
"""

from __future__ import annotations

import atexit
import json
import shutil
import ssl
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ott_runtime.devcluster.access import ClusterAccess
from ott_runtime.devcluster.kubeconfig import build_kubeconfig, write_kubeconfig
from ott_runtime.devcluster.pki import (
    ADMIN_USER,
    CONTROLLER_MANAGER_USER,
    ClusterPki,
    PkiFiles,
    generate_pki,
    pki_files,
    write_pki,
)
from ott_runtime.devcluster.processes import Component, free_ports, launch
from ott_runtime.devcluster.tools import find_tools_bin

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
STATE_FILE = "state.json"
# Marks a directory as ours, so that stop() never deletes a directory someone else named.
OWNER_MARKER = ".ottc-dev-cluster"
PORT_CLASH = "address already in use"
START_ATTEMPTS = 3
DEFAULT_START_TIMEOUT_S = 90.0


class ControlPlaneError(RuntimeError):
    """The control plane could not start (the message holds the failing component's log)."""


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(*free_ports(4))


def etcd_args(data_dir: Path, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        "--name=ottc-dev",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=ottc-dev={peer}",
        # A throw-away store: durability buys nothing and fsync costs seconds on busy disks.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_args(pki: PkiFiles, ports: Ports, cert_dir: Path) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_public}",
        f"--service-account-signing-key-file={pki.service_account_private}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--allow-privileged=true",
        # 127.0.0.1 is not a valid Endpoints address; nothing in-cluster dials the API anyway.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
    ]


def controller_manager_args(
    pki: PkiFiles, ports: Ports, kubeconfig: Path, cert_dir: Path
) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--cert-dir={cert_dir}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.service_account_private}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # Every default controller: garbage collector, namespace, deployment, replicaset,
        # job, cronjob, horizontal-pod-autoscaling, serviceaccount(-token), ...
        "--controllers=*",
        # The default 20 QPS throttles startup: with per-controller credentials each of the
        # ~40 controllers costs a few requests (ServiceAccount, TokenRequest) in sequence.
        "--kube-api-qps=500",
        "--kube-api-burst=1000",
        "--profiling=false",
    ]


class ControlPlane(ClusterAccess):
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, with an admin kubeconfig.

    Use as a context manager, or `start()` / `stop()`. The contract of
    `ClusterAccess` (`kubeconfig`, `bin_dir`, `server`, `env`, `kubectl`, `helm`)
    holds once `start()` returned.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        bin_dir: Path | None = None,
        detached: bool = False,
    ) -> None:
        if detached and state_dir is None:
            raise ValueError("a detached control plane needs a fixed state_dir")
        bin_dir = bin_dir or find_tools_bin()  # before mkdtemp: a missing tool leaves no litter
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="ottc-control-plane-"))
        self.detached = detached
        self.components: list[Component] = []
        self.ports: Ports | None = None
        super().__init__(
            kubeconfig=self.state_dir / "kubeconfig",
            bin_dir=bin_dir,
            server="",
            # kubectl's discovery cache and helm's repositories stay beside the cluster,
            # not in $HOME, where they would outlive it.
            extra_env={
                "KUBECACHEDIR": str(self.state_dir / "kube-cache"),
                **{
                    f"HELM_{kind}_HOME": str(self.state_dir / "helm" / kind.lower())
                    for kind in ("CACHE", "CONFIG", "DATA")
                },
            },
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> ControlPlane:
        """Start all components and wait until the API answers and `default/default` SA exists."""
        if self.components:
            raise ControlPlaneError("this control plane is already started")
        self._claim_state_dir()
        pki = generate_pki()
        write_pki(pki, self.pki_files.ca_cert.parent)
        if not self.detached:
            atexit.register(self.stop)
        try:
            for attempt in range(1, START_ATTEMPTS + 1):
                try:
                    self._start_once(pki, timeout_s)
                    return self
                except ControlPlaneError as error:
                    # Ports are picked free but taken later, so another process can win one.
                    if PORT_CLASH not in str(error) or attempt == START_ATTEMPTS:
                        raise
                    self._stop_components()
        except BaseException:
            # Also on Ctrl-C: nothing half-started may survive. The logs stay for a look.
            self._stop_components()
            self._forget_atexit()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop every component (controller-manager, apiserver, etcd) and, if temporary, state."""
        self._stop_components()
        self._forget_atexit()
        if (self.state_dir / OWNER_MARKER).exists():
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @classmethod
    def attach(cls, state_dir: Path) -> ControlPlane | None:
        """The detached control plane recorded in `state_dir`, or None when there is none."""
        try:
            state: dict[str, Any] = json.loads((state_dir / STATE_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        plane = cls(state_dir=state_dir, bin_dir=Path(state["bin_dir"]), detached=True)
        plane.server = state["server"]
        plane.ports = Ports(**state["ports"])
        plane.components = [
            Component(c["name"], Path(c["executable"]), Path(c["log_path"]), int(c["pid"]))
            for c in state["components"]
        ]
        return plane

    def running_components(self) -> list[Component]:
        return [c for c in self.components if c.alive()]

    def healthy(self) -> bool:
        """Whether every component runs and kube-apiserver answers /readyz."""
        if not self.components or len(self.running_components()) != len(self.components):
            return False
        try:
            with self._http() as client:
                return client.get(f"{self.server}/readyz").status_code == 200
        except (httpx.HTTPError, OSError):  # OSError: certificates gone with a removed state dir
            return False

    # -- internals ---------------------------------------------------------------------------

    def _claim_state_dir(self) -> None:
        marker = self.state_dir / OWNER_MARKER
        if self.state_dir.is_dir() and any(self.state_dir.iterdir()) and not marker.exists():
            raise ControlPlaneError(
                f"{self.state_dir} is not empty and was not made by a control plane; "
                "choose another state directory"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        marker.touch()

    @property
    def pki_files(self) -> PkiFiles:
        return pki_files(self.state_dir / "pki")

    def _start_once(self, pki: ClusterPki, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        ports = Ports.pick()
        self.ports = ports
        self.server = f"https://127.0.0.1:{ports.apiserver}"
        write_kubeconfig(
            self.kubeconfig, build_kubeconfig(self.server, pki.ca.cert_pem, ADMIN_USER, pki.admin)
        )
        kcm_kubeconfig = write_kubeconfig(
            self.state_dir / "kube-controller-manager.kubeconfig",
            build_kubeconfig(
                self.server, pki.ca.cert_pem, CONTROLLER_MANAGER_USER, pki.controller_manager
            ),
        )
        files = self.pki_files
        etcd_dir = self.state_dir / "etcd"
        shutil.rmtree(etcd_dir, ignore_errors=True)
        # kube-apiserver retries etcd on its own, so both start at once.
        self._launch("etcd", etcd_args(etcd_dir, ports))
        self._launch(
            "kube-apiserver", apiserver_args(files, ports, self.state_dir / "apiserver-certs")
        )
        self._wait_for("kube-apiserver /readyz", "/readyz", deadline)
        # kube-controller-manager gives up if the API is not healthy within seconds of its start.
        self._launch(
            "kube-controller-manager",
            controller_manager_args(files, ports, kcm_kubeconfig, self.state_dir / "kcm-certs"),
        )
        self._wait_for(
            "the default ServiceAccount",
            "/api/v1/namespaces/default/serviceaccounts/default",
            deadline,
        )

    def _launch(self, name: str, args: list[str]) -> None:
        log_path = self.state_dir / "logs" / f"{name}.log"
        self.components.append(
            launch(name, self.bin_dir / name, args, log_path, die_with_parent=not self.detached)
        )
        # Recorded at once, so that `ottc dev-cluster down` finds even a half-started cluster.
        self._save_state()

    def _wait_for(self, what: str, path: str, deadline: float) -> None:
        last = "no answer yet"
        with self._http() as client:
            while time.monotonic() < deadline:
                for component in self.components:
                    if not component.alive():
                        raise ControlPlaneError(
                            f"{component.name} exited while waiting for {what}; "
                            f"last lines of {component.log_path}:\n{component.log_tail()}"
                        )
                try:
                    response = client.get(f"{self.server}{path}")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:500]}"
                except httpx.HTTPError as error:
                    last = f"{type(error).__name__}: {error}"
                time.sleep(0.1)
        logs = "\n".join(f"--- {c.name} ({c.log_path}):\n{c.log_tail(15)}" for c in self.components)
        raise ControlPlaneError(f"timed out waiting for {what} ({last})\n{logs}")

    @contextmanager
    def _http(self) -> Iterator[httpx.Client]:
        files = self.pki_files
        context = ssl.create_default_context(cafile=str(files.ca_cert))
        context.load_cert_chain(str(files.admin_cert), str(files.admin_key))
        with httpx.Client(verify=context, timeout=5.0) as client:
            yield client

    def _save_state(self) -> None:
        assert self.ports is not None
        state = {
            "server": self.server,
            "bin_dir": str(self.bin_dir),
            "kubeconfig": str(self.kubeconfig),
            "ports": self.ports.__dict__,
            "components": [
                {
                    "name": c.name,
                    "executable": str(c.executable),
                    "log_path": str(c.log_path),
                    "pid": c.pid,
                }
                for c in self.components
            ],
        }
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _stop_components(self) -> None:
        # Reverse start order: clients first, so none logs a storm of errors about the API.
        for component in reversed(self.components):
            component.stop()
        self.components = []

    def _forget_atexit(self) -> None:
        atexit.unregister(self.stop)
