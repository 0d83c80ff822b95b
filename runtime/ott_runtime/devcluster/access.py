"""What a test or a person needs to talk to a cluster: kubeconfig, kubectl, helm.

`ClusterAccess` is the fixture contract of the test suite. `ControlPlane` is
one, and so is `ClusterAccess.from_kubeconfig(...)` for a cluster someone else
runs (kind in CI), so the same e2e tests run against either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import yaml

DEFAULT_COMMAND_TIMEOUT_S = 180.0
MAX_ERROR_CHARS = 4000


class KubeCommandError(RuntimeError):
    """kubectl or helm exited non-zero; the message holds the command and its stderr."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        command = " ".join(str(arg) for arg in result.args)
        output = (result.stderr.strip() or result.stdout).strip()
        if len(output) > MAX_ERROR_CHARS:  # kubectl may dump a whole object (MBs for a CRD)
            output = f"{output[: MAX_ERROR_CHARS // 2]}\n[...]\n{output[-MAX_ERROR_CHARS // 2 :]}"
        super().__init__(f"`{command}` exited {result.returncode}:\n{output}")


class ClusterAccess:
    """A kubeconfig plus the kubectl and helm binaries to use it with."""

    def __init__(
        self,
        kubeconfig: Path,
        bin_dir: Path,
        server: str,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.bin_dir = bin_dir
        self.server = server
        self._extra_env = dict(extra_env or {})

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, bin_dir: Path | None = None) -> ClusterAccess:
        """Access to the current context of an existing kubeconfig (kubectl from PATH)."""
        if not kubeconfig.is_file():
            raise FileNotFoundError(f"kubeconfig {kubeconfig} does not exist")
        if bin_dir is None:
            kubectl = shutil.which("kubectl")
            if kubectl is None:
                raise FileNotFoundError("kubectl is not on PATH; pass bin_dir")
            bin_dir = Path(kubectl).parent
        return cls(kubeconfig, bin_dir, current_server(kubeconfig))

    @property
    def env(self) -> dict[str, str]:
        """The process environment with KUBECONFIG set and the bin dir first on PATH."""
        env = dict(os.environ)
        env.update(self._extra_env)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        return env

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = DEFAULT_COMMAND_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises KubeCommandError when `check` and it fails."""
        return self._run("kubectl", args, input, check, timeout)

    def helm(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = DEFAULT_COMMAND_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """Run helm against this cluster; raises KubeCommandError when `check` and it fails."""
        return self._run("helm", args, input, check, timeout)

    def apply_crds(self, *manifests: Path, timeout_s: float = 120.0) -> list[str]:
        """Server-side apply CRD manifests and wait until each CRD is Established.

        Server-side, because big CRDs (Argo Rollouts: 3 MB) overflow the
        last-applied annotation of a client-side apply. Returns the CRD names.
        """
        if not manifests:
            raise ValueError("no CRD manifests given")
        apply = ["apply", "--server-side", "--force-conflicts", "-o", "name"]
        for manifest in manifests:
            apply += ["-f", str(manifest)]
        applied = self.kubectl(*apply, timeout=timeout_s).stdout.split()
        crds = [name for name in applied if name.startswith("customresourcedefinition")]
        if not crds:
            raise ValueError(f"no CustomResourceDefinition in {', '.join(map(str, manifests))}")
        names = [name.split("/", 1)[1] for name in crds]
        self.wait_crds_established(names, timeout_s)
        return names

    def wait_crds_established(self, names: list[str], timeout_s: float = 120.0) -> None:
        """Poll until every named CRD has condition Established=True.

        One LIST printed as two columns per poll: `kubectl wait` on 43 CRDs
        costs ~7 s even when all of them are Established already.
        """
        columns = (
            "custom-columns=NAME:.metadata.name,"
            'ESTABLISHED:.status.conditions[?(@.type=="Established")].status'
        )
        deadline = time.monotonic() + timeout_s
        last_error = ""
        while True:
            # a CRD created a moment ago has no status.conditions yet, and kubectl's filter
            # fails on it: that poll counts as "not yet", the next one sees the conditions
            listing = self.kubectl("get", "crd", "--no-headers", "-o", columns, check=False)
            if listing.returncode != 0:
                last_error = listing.stderr.strip()[-MAX_ERROR_CHARS // 4 :]
            established = {
                parts[0]
                for parts in (line.split() for line in listing.stdout.splitlines())
                if len(parts) == 2 and parts[1] == "True"
            }
            pending = set(names) - established
            if not pending:
                return
            if time.monotonic() > deadline:
                hint = f"; last kubectl error: {last_error}" if last_error else ""
                raise TimeoutError(
                    f"CRDs not Established after {timeout_s:.0f} s: "
                    f"{', '.join(sorted(pending))}{hint}"
                )
            time.sleep(0.5)

    def _run(
        self,
        binary: str,
        args: tuple[str, ...],
        input: str | None,
        check: bool,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / binary), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise KubeCommandError(result)
        return result


def current_server(kubeconfig: Path) -> str:
    """The server URL of the current context of `kubeconfig`."""
    config = yaml.safe_load(kubeconfig.read_text()) or {}
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    context = contexts.get(config.get("current-context", ""))
    if context is None or context.get("cluster") not in clusters:
        raise ValueError(f"{kubeconfig} has no usable current-context")
    server: str = clusters[context["cluster"]]["server"]
    return server
