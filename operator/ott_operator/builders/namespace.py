"""The dedicated tenant's namespace."""

from __future__ import annotations

from ott_operator import labels
from ott_operator.builders.context import Object, TenantContext
from ott_operator.builders.mesh import namespace_mesh_labels


def namespace(ctx: TenantContext) -> Object:
    extra = {
        # The scoring pods satisfy the restricted Pod Security profile; enforce it so nothing
        # weaker can be started in the tenant's namespace.
        labels.POD_SECURITY_ENFORCE: "restricted",
        **namespace_mesh_labels(ctx.settings),
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": ctx.metadata(ctx.names.namespace, namespaced=False, extra_labels=extra),
    }
