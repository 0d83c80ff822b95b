"""The scoring pods' identity; it needs no API access, so no token is mounted."""

from __future__ import annotations

from ott_operator import naming
from ott_operator.builders.context import Object, TenantContext


def service_account(ctx: TenantContext) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": ctx.metadata(naming.SERVICE_ACCOUNT, component="scoring"),
        "automountServiceAccountToken": False,
    }
