"""Fixtures shared by the whole suite; the cluster ones start only when a test asks.

- `control_plane`: one real control plane per session (etcd, kube-apiserver,
  kube-controller-manager on 127.0.0.1, see ott_runtime.devcluster). With
  `OTTC_E2E_KUBECONFIG` set, the tests use that cluster instead (kind in CI).
- `thirdparty_crds`: the CRDs in tests/fixtures/thirdparty-crds, applied and Established.
- `compliance_crds`: the repo's crds/*.yaml, applied and Established.

Every test under tests/e2e gets the `e2e` marker, so `-m "not e2e"` skips them.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ott_runtime.devcluster import ClusterAccess

REPO_ROOT = Path(__file__).resolve().parent.parent
E2E_DIR = Path(__file__).resolve().parent / "e2e"
EXTERNAL_KUBECONFIG_ENV = "OTTC_E2E_KUBECONFIG"


# Upstream CRDs, unmodified (SOURCES.md there names each origin and its licence).
THIRDPARTY_CRDS_DIR = REPO_ROOT / "tests" / "fixtures" / "thirdparty-crds"


@pytest.fixture(scope="session")
def thirdparty_crds_dir() -> Path:
    """The folder of third-party CRD manifests, inside the checkout."""
    return THIRDPARTY_CRDS_DIR


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_like_ctrl_c_on_sigterm() -> signal.Handlers | None:
    """Let a SIGTERM (CI cancelling the job) end the run like Ctrl-C, so that the
    fixtures' teardown removes the control plane's state too. Without this the
    components still die (parent-death signal) but their temp dir stays behind."""
    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set handlers
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None  # someone else (pytest-xdist, a runner) owns SIGTERM
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    return signal.SIG_DFL


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ClusterAccess]:
    """Access to a real cluster: kubeconfig, bin_dir, server, env, kubectl(), helm()."""
    from ott_runtime.devcluster import ClusterAccess, ControlPlane, find_tools_bin

    external = os.environ.get(EXTERNAL_KUBECONFIG_ENV)
    if external:
        bin_dir = Path(os.environ["OTTC_TOOLS_BIN"]) if os.environ.get("OTTC_TOOLS_BIN") else None
        yield ClusterAccess.from_kubeconfig(Path(external), bin_dir)
        return
    plane = ControlPlane(bin_dir=find_tools_bin())
    previous = _stop_like_ctrl_c_on_sigterm()
    try:
        plane.start()
        yield plane
    finally:
        components = list(plane.components)
        plane.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    # Teardown asserts its own promise: an orphan here would outlive the test run.
    survivors = [f"{c.name} (pid {c.pid})" for c in components if c.alive()]
    assert not survivors, f"control plane left processes running: {survivors}"
    assert not plane.state_dir.exists(), f"control plane left {plane.state_dir}"


@pytest.fixture(scope="session")
def thirdparty_crds(control_plane: ClusterAccess, thirdparty_crds_dir: Path) -> list[str]:
    """Names of the third-party CRDs (Kong, Gateway API, Istio, Argo, ...), all Established."""
    manifests = sorted(thirdparty_crds_dir.glob("*.yaml"))
    if not manifests:
        pytest.fail(f"no third-party CRDs in {thirdparty_crds_dir}")
    return control_plane.apply_crds(*manifests, timeout_s=240)


@pytest.fixture(scope="session")
def compliance_crds(control_plane: ClusterAccess) -> list[str]:
    """Names of the operator's own CRDs (crds/*.yaml), all Established."""
    manifests = sorted((REPO_ROOT / "crds").glob("*.yaml"))
    if not manifests:
        pytest.fail(f"no CRDs in {REPO_ROOT / 'crds'}")
    return control_plane.apply_crds(*manifests)
