"""Server-side apply of a tenant's desired objects, and what changed (for the Events).

On a change every object is applied: server-side apply also removes fields no longer
declared. On the drift timer, objects that still hold what the operator declared are left
alone (a GET is cheaper than an apply, and it tells what drifted), and what was restored is
reported as DriftReverted.
"""

from __future__ import annotations

from collections.abc import Iterable

from ott_operator.drift import drifted_paths, holds
from ott_operator.kube import KubeAPI, Object, ObjectRef
from ott_operator.metrics import METRICS
from ott_operator.reconciler.tenant_status import Event
from ott_runtime.telemetry import attributes as attr
from ott_runtime.telemetry import start_span


def apply_objects(kube: KubeAPI, objects: Iterable[Object], *, drift: bool) -> list[Event]:
    """Apply what is missing or changed (on ``drift``, only that); raises ApplyError."""
    created: list[str] = []
    changed: list[str] = []
    for obj in objects:
        ref = ObjectRef.of(obj)
        span_attributes = {
            attr.K8S_KIND: ref.kind,
            attr.K8S_NAME: ref.name,
            attr.K8S_NAMESPACE: ref.namespace,
        }
        with start_span("ottc.apply", span_attributes):
            live = kube.get(ref.api_version, ref.kind, ref.name, ref.namespace)
            if live is None:
                created.append(str(ref))
            elif not holds(live, obj):
                where = ", ".join(drifted_paths(live, obj)[:3])
                changed.append(f"{ref} ({where})")
            elif drift:
                continue
            kube.apply(obj)
            METRICS.applied.labels(ref.kind).inc()
    if drift and (created or changed):
        restored = "; ".join([*(f"{c} (deleted)" for c in created), *changed])
        message = f"restored objects changed outside the operator: {restored}"
        return [Event(True, "DriftReverted", message)]
    if changed or created:
        parts = [f"created {len(created)} objects"] if created else []
        if changed:
            parts.append("updated " + "; ".join(changed))
        return [Event(False, "Applied", ", ".join(parts))]
    return []
