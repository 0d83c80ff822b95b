"""Where the Kubernetes binaries are.

`OTTC_TOOLS_BIN` names the directory outright; otherwise `hack/build-tools.sh`
is run, which builds what is missing (once, minutes) and prints the directory
(instantly once built).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REQUIRED_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")
TOOLS_BIN_ENV = "OTTC_TOOLS_BIN"
BUILD_SCRIPT = Path("hack") / "build-tools.sh"


class ToolsNotFoundError(RuntimeError):
    """The Kubernetes binaries are missing and cannot be built here."""


def repo_root() -> Path | None:
    """The source checkout this package runs from, or None for an installed wheel."""
    for parent in Path(__file__).resolve().parents:
        if (parent / BUILD_SCRIPT).is_file() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def missing_binaries(bin_dir: Path) -> list[str]:
    """The required binaries that are not executable files in `bin_dir`."""
    return [
        name
        for name in REQUIRED_BINARIES
        if not ((bin_dir / name).is_file() and os.access(bin_dir / name, os.X_OK))
    ]


def _checked(bin_dir: Path, origin: str) -> Path:
    missing = missing_binaries(bin_dir)
    if missing:
        raise ToolsNotFoundError(
            f"{origin} names {bin_dir}, which lacks {', '.join(missing)}; "
            "run hack/build-tools.sh (or `make tools`) to build them"
        )
    return bin_dir


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time on this machine: a second test session waits for the first
    one's build (then its own run of the script is instant) instead of building again."""
    with (Path(tempfile.gettempdir()) / "ottc-build-tools.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run_build_script(root: Path) -> tuple[int, str]:
    """Run the build script; stderr passes through (a first build reports progress there)."""
    process = subprocess.Popen(
        ["bash", str(root / BUILD_SCRIPT)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so that all of it can be stopped
    )
    try:
        stdout, _ = process.communicate()
    except BaseException:
        # A test timeout or Ctrl-C must not leave a Go build running on its own.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    return process.returncode, stdout


def find_tools_bin() -> Path:
    """The directory holding etcd, kube-apiserver, kube-controller-manager, kubectl and helm."""
    configured = os.environ.get(TOOLS_BIN_ENV)
    if configured:
        return _checked(Path(configured).expanduser(), f"${TOOLS_BIN_ENV}")
    root = repo_root()
    if root is None:
        raise ToolsNotFoundError(
            f"set {TOOLS_BIN_ENV} to a directory with {', '.join(REQUIRED_BINARIES)} "
            "(built by hack/build-tools.sh in the source tree)"
        )
    with _build_lock():
        returncode, stdout = _run_build_script(root)
    if returncode != 0:
        raise ToolsNotFoundError(
            f"{BUILD_SCRIPT} failed (exit {returncode}); its messages are above. "
            f"Or point {TOOLS_BIN_ENV} at a directory with {', '.join(REQUIRED_BINARIES)}."
        )
    printed = stdout.strip().splitlines()
    if not printed:
        raise ToolsNotFoundError(f"{BUILD_SCRIPT} printed no directory")
    return _checked(Path(printed[-1]), str(BUILD_SCRIPT))
