"""Operator benchmark on the real control plane (not part of pytest).

For N = 1, 10, 50 dedicated tenants: the wall time from one `kubectl apply` of all N to every
tenant settled (rules resolved and compiled, keys ready, every owned object applied, status
observed: ScoringAvailable reports the Deployment, which waits for pods as there is no
kubelet), and the operator's CPU seconds per tenant (from /proc, user + system).

    .venv/bin/python tests/bench/bench_operator.py        (or: ottc bench operator)

OTTC_E2E_KUBECONFIG uses an existing cluster instead of starting one; OTTC_BENCH_QUICK=1
runs N = 1 and 5.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from ott_runtime.benchreport import BenchReport, process_cpu_clock
from ott_runtime.devcluster import ClusterAccess, ControlPlane, find_tools_bin

REPO = Path(__file__).resolve().parents[2]
THIRDPARTY_CRDS = REPO / "tests" / "fixtures" / "thirdparty-crds"
QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
SIZES = (1, 5) if QUICK else (1, 10, 50)
TIMEOUT_S = 600.0
SETTINGS = {
    "poolNamespace": "ottc-pool",
    "operatorNamespace": "ott-compliance-system",
    # timers far apart, so the measurement sees the reconciles the apply caused
    "driftInterval": "10m",
    "rotationCheckInterval": "10m",
}


def tenant(name: str, batch: str) -> dict[str, Any]:
    return {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": name, "labels": {"bench.ott.dev/batch": batch}},
        "spec": {
            "displayName": name,
            "plan": "standard",
            "regulations": [{"name": "gdpr"}, {"name": "eu-avmsd"}],
            "storage": {"mode": "external", "databaseSecretRef": {"name": "db", "key": "url"}},
        },
    }


def settled(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    if status.get("observedGeneration") != item["metadata"].get("generation"):
        return False
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    return (
        conditions.get("RegulationsResolved", {}).get("status") == "True"
        and conditions.get("KeysReady", {}).get("status") == "True"
        and "ScoringAvailable" in conditions
        and "GatewayReady" in conditions
    )


def prepare(cluster: ClusterAccess) -> None:
    cluster.apply_crds(*sorted(THIRDPARTY_CRDS.glob("*.yaml")), timeout_s=240)
    cluster.apply_crds(*sorted((REPO / "crds").glob("*.yaml")))
    for namespace in ("ottc-pool", "ott-compliance-system", "kong"):
        cluster.kubectl("create", "namespace", namespace, check=False)
    cluster.kubectl("apply", "-f", str(REPO / "examples" / "regulationsets"))


def measure(
    cluster: ClusterAccess, pid: int, size: int, batch: str | None = None
) -> dict[str, Any]:
    batch = batch or f"n{size}"
    documents = "---\n".join(
        yaml.safe_dump(tenant(f"bench-{batch}-{i}", batch)) for i in range(size)
    )
    cpu_seconds = process_cpu_clock(pid)
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    cluster.kubectl("apply", "-f", "-", input=documents)
    deadline = start + TIMEOUT_S
    done = 0
    while time.perf_counter() < deadline:
        listed = cluster.kubectl(
            "get", "ctenant", "-l", f"bench.ott.dev/batch={batch}", "-o", "json"
        ).stdout
        done = sum(settled(item) for item in json.loads(listed)["items"])
        if done == size:
            break
        time.sleep(0.25)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    if done != size:
        raise RuntimeError(f"N={size}: only {done} tenants settled in {TIMEOUT_S:.0f} s")
    return {
        "tenants": size,
        "settled s": round(elapsed, 2),
        "s/tenant": round(elapsed / size, 3),
        "operator CPU s": round(cpu, 2),
        "CPU s/tenant": round(cpu / size, 3),
    }


def main() -> None:
    report = BenchReport(
        name="operator",
        title="Operator: kubectl apply of N dedicated tenants -> all settled",
        columns=["tenants", "settled s", "s/tenant", "operator CPU s", "CPU s/tenant"],
    )
    external = os.environ.get("OTTC_E2E_KUBECONFIG")
    plane: ControlPlane | None = None
    if external:
        cluster = ClusterAccess.from_kubeconfig(Path(external))
    else:
        plane = ControlPlane(bin_dir=find_tools_bin())
        plane.start()
        cluster = plane
    work = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    operator: subprocess.Popen[bytes] | None = None
    try:
        with report.timed():
            prepare(cluster)
            settings = work / "settings.yaml"
            settings.write_text(yaml.safe_dump(SETTINGS))
            ottc = shutil.which("ottc", path=str(Path(sys.executable).parent)) or "ottc"
            with (work / "operator.log").open("wb") as log:
                operator = subprocess.Popen(
                    [ottc, "operator", "--settings", str(settings)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**cluster.env},
                )
            # start-up (login, discovery, resuming existing tenants) is not measured
            measure(cluster, operator.pid, 1, batch="warm-up")
            for size in SIZES:
                report.add(**measure(cluster, operator.pid, size))
        report.note(
            "each tenant: 17 owned objects (namespace included) server-side applied, the rules "
            "of 2 sets resolved and compiled, a keyring and an API key generated"
        )
        report.note("batches accumulate: the N=50 run starts with the earlier tenants present")
        report.note("machine shared with other work: compare rows of one run, not across runs")
        report.emit()
    finally:
        if operator is not None:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                operator.kill()
        if plane is not None:
            plane.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
