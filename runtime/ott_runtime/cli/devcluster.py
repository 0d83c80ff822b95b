"""`ottc dev-cluster up|down|status`: a real Kubernetes control plane for people.

The same etcd + kube-apiserver + kube-controller-manager that the e2e tests use,
started detached so it outlives the command. No kubelet: objects are stored,
validated and reconciled by the controllers, but no container runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import click

from ott_runtime.devcluster import (
    ControlPlane,
    ControlPlaneError,
    ToolsNotFoundError,
    find_tools_bin,
)
from ott_runtime.devcluster.controlplane import DEFAULT_START_TIMEOUT_S, OWNER_MARKER

STATE_DIR_ENV = "OTTC_DEV_CLUSTER_DIR"


def default_state_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ott-compliance" / "dev-cluster"


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_state_dir,
    envvar=STATE_DIR_ENV,
    show_envvar=True,
    show_default="$XDG_CACHE_HOME/ott-compliance/dev-cluster",
    help="Where the cluster keeps its data, certificates, kubeconfig and logs.",
)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One `up`/`down` at a time per state dir (two `up`s would start two clusters)."""
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = state_dir.parent / f".{state_dir.name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _print_access(plane: ControlPlane, quiet: bool) -> None:
    export = f"export KUBECONFIG={shlex.quote(str(plane.kubeconfig))}"
    if quiet:
        click.echo(export)
        return
    click.echo(f"kubeconfig: {plane.kubeconfig}")
    click.echo(f"tools:      {plane.bin_dir} (kubectl, helm)")
    click.echo(f"logs:       {plane.state_dir / 'logs'}")
    click.echo("use it with:")
    click.echo(f"  {export}")


def _remove_stale(plane: ControlPlane | None, state_dir: Path) -> None:
    """Stop what is left of a broken cluster and clear its state dir."""
    if plane is not None:
        plane.stop()
    elif (state_dir / OWNER_MARKER).exists():
        shutil.rmtree(state_dir, ignore_errors=True)


@click.group("dev-cluster")
def dev_cluster() -> None:
    """A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager).

    Binaries come from hack/build-tools.sh (or $OTTC_TOOLS_BIN). Everything listens
    on 127.0.0.1 only; the admin identity is a client certificate in system:masters.
    There is no kubelet: Deployments get ReplicaSets and Pods, but no container runs.

    \b
    Typical use:
      eval "$(ottc dev-cluster up --quiet)"
      kubectl get namespaces
      ottc dev-cluster down
    """


@dev_cluster.command()
@state_dir_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_START_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the API to be ready.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the `export KUBECONFIG=...` line.")
def up(state_dir: Path, timeout: float, quiet: bool) -> None:
    """Start the dev cluster, or report the one already running.

    Without $OTTC_TOOLS_BIN, runs hack/build-tools.sh first: instant once the
    binaries are built, about ten minutes the very first time (progress on stderr).
    """
    with _locked(state_dir):
        existing = ControlPlane.attach(state_dir)
        if existing is not None and existing.healthy():
            if not quiet:
                click.echo(f"dev cluster already running at {existing.server}")
            _print_access(existing, quiet)
            return
        if existing is not None or (state_dir / OWNER_MARKER).exists():
            if not quiet:
                click.echo(f"removing a stopped or broken dev cluster in {state_dir}", err=True)
            _remove_stale(existing, state_dir)
        started = time.monotonic()
        try:
            plane = ControlPlane(state_dir=state_dir, bin_dir=find_tools_bin(), detached=True)
            plane.start(timeout_s=timeout)
        except (ToolsNotFoundError, ControlPlaneError) as error:
            raise click.ClickException(f"dev cluster did not start: {error}") from error
        if not quiet:
            elapsed = time.monotonic() - started
            click.echo(f"dev cluster ready at {plane.server} (started in {elapsed:.1f} s)")
        _print_access(plane, quiet)


@dev_cluster.command()
@state_dir_option
def status(state_dir: Path) -> None:
    """Tell what runs and whether the API is ready.

    Exits 0 when the cluster is up and ready, 1 otherwise (scripts can test it).
    """
    plane = ControlPlane.attach(state_dir)
    if plane is None:
        click.echo(f"no dev cluster (nothing recorded in {state_dir})")
        raise SystemExit(1)
    for component in plane.components:
        state = "running" if component.alive() else "NOT RUNNING"
        click.echo(f"{component.name:<24} pid {component.pid:<8} {state}")
    healthy = plane.healthy()
    click.echo(f"api server: {plane.server} ({'ready' if healthy else 'not ready'})")
    click.echo(f"kubeconfig: {plane.kubeconfig}")
    if not healthy:
        click.echo("run `ottc dev-cluster up` to replace it, or `down` to remove it", err=True)
        raise SystemExit(1)


@dev_cluster.command()
@state_dir_option
def down(state_dir: Path) -> None:
    """Stop the dev cluster and delete its state.

    The state is its etcd data, certificates, kubeconfig and logs. Safe to repeat.
    """
    with _locked(state_dir):
        plane = ControlPlane.attach(state_dir)
        if plane is None and not (state_dir / OWNER_MARKER).exists():
            click.echo("no dev cluster is running; nothing to do")
            return
        running = len(plane.running_components()) if plane else 0
        _remove_stale(plane, state_dir)
        click.echo(f"dev cluster stopped ({running} processes) and {state_dir} removed")
