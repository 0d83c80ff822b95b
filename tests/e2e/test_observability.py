"""An operator reconcile against the real control plane is one trace in the real Jaeger:
a `ottc.reconcile` span with one `ottc.apply` child per applied object, and the
Kubernetes Events of that reconcile carry its trace id.

The reconcile runs in-process (the operator subprocess of tests/e2e/operator exports to
no collector), with the operator's own TenantReconciler and Kube client.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from ott_runtime.devcluster.jaeger import JaegerServer
from ott_runtime.telemetry import configure_tracing
from ott_runtime.telemetry.tracing import Tracing

if TYPE_CHECKING:
    from ott_runtime.devcluster import ClusterAccess

REPO = Path(__file__).resolve().parents[2]
TRACE_ANNOTATION = "compliance.ott.dev/trace-id"


@pytest.fixture
def tracing(jaeger: JaegerServer) -> Iterator[Tracing]:
    service = f"ottc-operator-e2e-{uuid.uuid4().hex[:6]}"
    configured = configure_tracing(service, jaeger.otel_env(service), install_global=False)
    assert configured is not None
    yield configured
    configured.shutdown()


def parent_of(span: dict[str, Any]) -> str | None:
    refs = [r for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
    return refs[0]["spanID"] if refs else None


def test_reconcile_trace_has_a_child_per_applied_object_and_events_carry_it(
    control_plane: ClusterAccess,
    thirdparty_crds: None,
    compliance_crds: None,
    jaeger: JaegerServer,
    tracing: Tracing,
) -> None:
    from kubernetes.config import new_client_from_config

    from ott_operator.kube import Kube
    from ott_operator.reconciler.tenant import TenantReconciler
    from ott_operator.settings import OperatorSettings

    control_plane.kubectl("apply", "-f", str(REPO / "examples" / "regulationsets"))
    name = f"traced-{uuid.uuid4().hex[:6]}"
    tenant = yaml.safe_load((REPO / "examples" / "tenants" / "tinytoons.yaml").read_text())
    tenant["metadata"] = {"name": name}
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(tenant))
    sets = json.loads(control_plane.kubectl("get", "regulationsets", "-o", "json").stdout)

    kube = Kube(new_client_from_config(str(control_plane.kubeconfig)))
    reconciler = TenantReconciler(kube, OperatorSettings())
    try:
        outcome = reconciler.reconcile(name, sets["items"])
        assert outcome.phase is not None, outcome.message
        assert tracing.force_flush()

        deadline = time.monotonic() + 20
        while True:
            traces = jaeger.traces(
                tracing.settings.service_name, params={"operation": "ottc.reconcile"}
            )
            if traces or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert len(traces) == 1, "one reconcile, one trace"
        spans = traces[0]["spans"]
        (root,) = [s for s in spans if s["operationName"] == "ottc.reconcile"]
        assert parent_of(root) is None
        root_tags = {t["key"]: t["value"] for t in root["tags"]}
        assert root_tags["k8s.object.name"] == name
        assert root_tags["ottc.reconcile.phase"] == outcome.phase.value

        applied = [s for s in spans if s["operationName"] == "ottc.apply"]
        kinds = {
            next(t["value"] for t in s["tags"] if t["key"] == "k8s.object.kind") for s in applied
        }
        assert {"Namespace", "Deployment", "Secret", "Service"} <= kinds
        assert all(parent_of(s) == root["spanID"] for s in applied)

        events = json.loads(
            control_plane.kubectl(
                "get",
                "events",
                "-A",
                "--field-selector",
                f"involvedObject.name={name}",
                "-o",
                "json",
            ).stdout
        )["items"]
        assert events, "the reconcile posted Events"
        annotated = {(e["metadata"].get("annotations") or {}).get(TRACE_ANNOTATION) for e in events}
        assert annotated == {traces[0]["traceID"]}
    finally:
        control_plane.kubectl("delete", "compliancetenant", name, "--wait=false", check=False)
