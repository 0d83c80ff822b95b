"""Service mesh (Istio), when the operator settings enable it: sidecars plus STRICT mTLS."""

from __future__ import annotations

from ott_operator import labels, naming
from ott_operator.builders.context import Object, TenantContext
from ott_operator.settings import OperatorSettings


def namespace_mesh_labels(settings: OperatorSettings) -> dict[str, str]:
    return {labels.ISTIO_INJECTION: "enabled"} if settings.mesh else {}


def peer_authentication(ctx: TenantContext) -> Object:
    """Namespace-wide STRICT mTLS: plain-text traffic into the tenant's pods is refused."""
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": ctx.metadata(naming.PEER_AUTHENTICATION, component="mesh"),
        "spec": {"mtls": {"mode": "STRICT"}},
    }
