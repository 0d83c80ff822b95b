"""The control plane's pieces that need no Kubernetes binaries: PKI, kubeconfig,
ports, tool lookup, process handling, start-failure reporting and the CLI's
empty-state answers."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from ott_runtime.cli import cli
from ott_runtime.devcluster import ControlPlane, ControlPlaneError, ToolsNotFoundError
from ott_runtime.devcluster.access import ClusterAccess, KubeCommandError, current_server
from ott_runtime.devcluster.controlplane import (
    Ports,
    apiserver_args,
    controller_manager_args,
    etcd_args,
)
from ott_runtime.devcluster.kubeconfig import build_kubeconfig, write_kubeconfig
from ott_runtime.devcluster.pki import ADMIN_GROUP, ClusterPki, generate_pki, pki_files, write_pki
from ott_runtime.devcluster.processes import free_ports, launch, pid_alive, pid_runs
from ott_runtime.devcluster.tools import REQUIRED_BINARIES, _run_build_script, find_tools_bin


@pytest.fixture(scope="module")
def pki() -> ClusterPki:
    return generate_pki()


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _wait_until_dead(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


# -- PKI ----------------------------------------------------------------------------------------


def test_every_certificate_is_signed_by_the_ca(pki: ClusterPki) -> None:
    ca = _cert(pki.ca.cert_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for pair in (pki.apiserver, pki.admin, pki.controller_manager):
        _cert(pair.cert_pem).verify_directly_issued_by(ca)  # raises when not


def test_apiserver_certificate_serves_loopback(pki: ClusterPki) -> None:
    cert = _cert(pki.apiserver.cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    assert ExtendedKeyUsageOID.CLIENT_AUTH not in usages


def test_admin_is_a_client_in_system_masters(pki: ClusterPki) -> None:
    cert = _cert(pki.admin.cert_pem)
    organizations = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in organizations] == [ADMIN_GROUP]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    kcm = _cert(pki.controller_manager.cert_pem)
    common_name = kcm.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == "system:kube-controller-manager"
    assert not kcm.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)


def test_service_account_keys_are_one_pair(pki: ClusterPki) -> None:
    private = serialization.load_pem_private_key(pki.service_account_private_pem, None)
    public = serialization.load_pem_public_key(pki.service_account_public_pem)
    assert private.public_key() == public


def test_written_keys_are_private(pki: ClusterPki, tmp_path: Path) -> None:
    files = write_pki(pki, tmp_path / "pki")
    assert files == pki_files(tmp_path / "pki")
    for key in (files.ca_key, files.apiserver_key, files.service_account_private, files.admin_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert files.apiserver_cert.read_bytes() == pki.apiserver.cert_pem


# -- kubeconfig ---------------------------------------------------------------------------------


def test_kubeconfig_loads_in_the_kubernetes_client(pki: ClusterPki, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        build_kubeconfig("https://127.0.0.1:6443", pki.ca.cert_pem, "ottc-admin", pki.admin),
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.ssl_ca_cert is not None
    assert configuration.cert_file is not None
    assert Path(configuration.ssl_ca_cert).read_bytes() == pki.ca.cert_pem
    assert Path(configuration.cert_file).read_bytes() == pki.admin.cert_pem
    assert current_server(path) == "https://127.0.0.1:6443"


def test_current_server_rejects_a_kubeconfig_without_context(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    with pytest.raises(ValueError, match="no usable current-context"):
        current_server(path)


def test_access_env_points_at_kubeconfig_and_tools(tmp_path: Path) -> None:
    access = ClusterAccess(tmp_path / "kc", tmp_path / "bin", "https://127.0.0.1:1", {"A": "b"})
    assert access.env["KUBECONFIG"] == str(tmp_path / "kc")
    assert access.env["PATH"].split(os.pathsep)[0] == str(tmp_path / "bin")
    assert access.env["A"] == "b"


def _fake_kubectl(bin_dir: Path, script: str) -> ClusterAccess:
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "kubectl").write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / "kubectl").chmod(0o755)
    return ClusterAccess(bin_dir / "kubeconfig", bin_dir, "https://127.0.0.1:1")


def test_waits_until_every_crd_is_established(tmp_path: Path) -> None:
    # The first listing shows b.example.com not yet Established, the next ones show it is.
    counter = tmp_path / "calls"
    access = _fake_kubectl(
        tmp_path / "bin",
        f"""echo x >> {counter}
echo "a.example.com   True"
if [ "$(wc -l < {counter})" -lt 2 ]; then echo "b.example.com   <none>";
else echo "b.example.com   True"; fi""",
    )
    access.wait_crds_established(["a.example.com", "b.example.com"], timeout_s=10)
    assert len(counter.read_text().splitlines()) == 2


def test_crd_wait_times_out_naming_the_laggards(tmp_path: Path) -> None:
    access = _fake_kubectl(
        tmp_path / "bin", 'echo "a.example.com True"; echo "b.example.com False"'
    )
    with pytest.raises(TimeoutError, match=r"b\.example\.com") as timeout:
        access.wait_crds_established(["a.example.com", "b.example.com"], timeout_s=0.5)
    assert "a.example.com" not in str(timeout.value)


def test_crd_wait_keeps_polling_through_kubectl_errors_and_reports_them(tmp_path: Path) -> None:
    access = _fake_kubectl(tmp_path / "bin", "echo 'error: connection refused' >&2; exit 1")
    with pytest.raises(TimeoutError, match="connection refused"):
        access.wait_crds_established(["a.example.com"], timeout_s=0.5)


def test_kubectl_failure_is_reported_and_shortened(tmp_path: Path) -> None:
    access = _fake_kubectl(
        tmp_path / "bin",
        "echo 'Error from server (Forbidden): nope' >&2\n"
        "head -c 100000 /dev/zero | tr '\\0' x >&2\n"
        "exit 1",
    )
    with pytest.raises(KubeCommandError, match="Forbidden") as failure:
        access.kubectl("get", "secrets")
    assert failure.value.result.returncode == 1
    assert len(str(failure.value)) < 5000
    assert access.kubectl("get", "secrets", check=False).returncode == 1


# -- ports and flags ----------------------------------------------------------------------------


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_components_listen_on_loopback_only(tmp_path: Path) -> None:
    files = pki_files(tmp_path)
    ports = Ports(2379, 2380, 6443, 10257)
    args = [
        *etcd_args(tmp_path, ports),
        *apiserver_args(files, ports, tmp_path),
        *controller_manager_args(files, ports, tmp_path / "kc", tmp_path),
    ]
    addresses = [a for a in args if "url" in a or "address" in a or "etcd-servers" in a]
    assert addresses
    for flag in addresses:
        value = flag.split("=", 1)[1]
        for address in value.split(","):
            assert "127.0.0.1" in address, flag


# -- tools --------------------------------------------------------------------------------------


def _fake_bin_dir(directory: Path, names: tuple[str, ...]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text("#!/bin/sh\nexit 0\n")
        (directory / name).chmod(0o755)
    return directory


def test_tools_bin_env_with_a_missing_binary_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _fake_bin_dir(tmp_path / "bin", REQUIRED_BINARIES[:-1])
    monkeypatch.setenv("OTTC_TOOLS_BIN", str(bin_dir))
    with pytest.raises(ToolsNotFoundError, match=REQUIRED_BINARIES[-1]):
        find_tools_bin()
    _fake_bin_dir(bin_dir, REQUIRED_BINARIES[-1:])
    assert find_tools_bin() == bin_dir


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here even in a run started with SIGINT ignored (a
    shell's background job): the test sends a real SIGINT to itself."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_an_interrupted_build_leaves_no_process_behind(tmp_path: Path) -> None:
    """A test timeout or Ctrl-C during a first build must stop the whole Go build."""
    pid_file = tmp_path / "grandchild.pid"
    script = tmp_path / "hack" / "build-tools.sh"
    script.parent.mkdir()
    script.write_text(f"sleep 300 &\necho $! > {pid_file}\nwait\n")

    def interrupt_once_started() -> None:
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        # A real signal to the main thread, as Ctrl-C or pytest-timeout's SIGALRM would be:
        # it interrupts the blocking read on the script's output.
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        _run_build_script(tmp_path)
    assert _wait_until_dead(int(pid_file.read_text())), "the build's child outlived it"


# -- processes ----------------------------------------------------------------------------------


def test_stop_terminates_and_reaps(tmp_path: Path) -> None:
    sleeper = launch("sleep", Path("/bin/sleep"), ["60"], tmp_path / "sleep.log")
    assert sleeper.alive()
    assert pid_runs(sleeper.pid, Path("/bin/sleep"))
    assert not pid_runs(sleeper.pid, Path("/bin/true"))
    sleeper.stop()
    assert not sleeper.alive()
    assert not pid_alive(sleeper.pid)


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = launch(
        "stubborn",
        Path("/bin/sh"),
        ["-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"],
        tmp_path / "stubborn.log",
    )
    deadline = time.monotonic() + 5
    while "ready" not in stubborn.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    stubborn.stop(grace_s=0.5)
    assert not pid_alive(stubborn.pid)


def test_children_die_when_their_parent_is_killed(tmp_path: Path) -> None:
    """A `kill -9` of the test process must not leave the components running."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from ott_runtime.devcluster.processes import launch
        child = launch("sleep", Path("/bin/sleep"), ["300"], Path(sys.argv[1]))
        print(child.pid, flush=True)
        time.sleep(300)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "sleep.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert pid_alive(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert _wait_until_dead(child_pid), f"pid {child_pid} outlived its killed parent"


# -- control plane lifecycle without real binaries ---------------------------------------------


def test_start_failure_reports_the_components_log(tmp_path: Path) -> None:
    bin_dir = _fake_bin_dir(tmp_path / "bin", REQUIRED_BINARIES)
    (bin_dir / "etcd").write_text(
        "#!/bin/sh\necho 'etcd: cannot open data dir: disk on fire'\nexit 3\n"
    )
    (bin_dir / "kube-apiserver").write_text("#!/bin/sh\nexec sleep 60\n")
    plane = ControlPlane(state_dir=tmp_path / "state", bin_dir=bin_dir)
    with pytest.raises(ControlPlaneError, match="disk on fire") as failure:
        plane.start(timeout_s=20)
    assert "etcd exited" in str(failure.value)
    assert plane.components == []  # the fake apiserver was stopped too
    plane.stop()
    assert not (tmp_path / "state").exists()


def test_ctrl_c_during_start_stops_what_was_launched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _fake_bin_dir(tmp_path / "bin", REQUIRED_BINARIES)
    for name in ("etcd", "kube-apiserver"):
        (bin_dir / name).write_text("#!/bin/sh\nexec sleep 60\n")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ControlPlane, "_wait_for", interrupted)
    plane = ControlPlane(state_dir=tmp_path / "state", bin_dir=bin_dir, detached=True)
    with pytest.raises(KeyboardInterrupt):
        plane.start()
    # Both were launched and recorded before the interrupt, and both are gone now.
    recorded = ControlPlane.attach(tmp_path / "state")
    assert recorded is not None
    pids = [c.pid for c in recorded.components]
    assert [c.name for c in recorded.components] == ["etcd", "kube-apiserver"]
    assert all(_wait_until_dead(pid) for pid in pids)


def test_refuses_a_foreign_state_dir(tmp_path: Path) -> None:
    state_dir = tmp_path / "precious"
    state_dir.mkdir()
    (state_dir / "thesis.txt").write_text("do not delete")
    bin_dir = _fake_bin_dir(tmp_path / "bin", REQUIRED_BINARIES)
    plane = ControlPlane(state_dir=state_dir, bin_dir=bin_dir, detached=True)
    with pytest.raises(ControlPlaneError, match="not empty"):
        plane.start()
    plane.stop()
    assert (state_dir / "thesis.txt").read_text() == "do not delete"


def test_attach_reads_state_and_sees_dead_components(tmp_path: Path) -> None:
    assert ControlPlane.attach(tmp_path) is None
    (tmp_path / "state.json").write_text("{not json")
    assert ControlPlane.attach(tmp_path) is None
    state = {
        "server": "https://127.0.0.1:1",
        "bin_dir": str(tmp_path),
        "kubeconfig": str(tmp_path / "kubeconfig"),
        "ports": {"etcd_client": 1, "etcd_peer": 2, "apiserver": 3, "controller_manager": 4},
        # pid 1 runs, but not etcd: a recycled pid must not count as our component.
        "components": [
            {"name": "etcd", "executable": str(tmp_path / "etcd"), "log_path": "x", "pid": 1}
        ],
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    plane = ControlPlane.attach(tmp_path)
    assert plane is not None
    assert plane.server == "https://127.0.0.1:1"
    assert plane.running_components() == []
    assert not plane.healthy()


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_status_and_down_without_a_cluster(tmp_path: Path) -> None:
    runner = CliRunner()
    state = str(tmp_path / "dev-cluster")
    result = runner.invoke(cli, ["dev-cluster", "status", "--state-dir", state])
    assert result.exit_code == 1
    assert "no dev cluster" in result.output
    result = runner.invoke(cli, ["dev-cluster", "down", "--state-dir", state])
    assert result.exit_code == 0
    assert "nothing to do" in result.output


def test_cli_up_without_tools_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTTC_TOOLS_BIN", str(tmp_path / "no-such-dir"))
    result = CliRunner().invoke(
        cli, ["dev-cluster", "up", "--state-dir", str(tmp_path / "dev-cluster")]
    )
    assert result.exit_code == 1
    assert "kube-apiserver" in result.output
    assert "hack/build-tools.sh" in result.output
