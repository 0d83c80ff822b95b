"""kopf indexes: RegulationSets by name, and tenants by the sets they reference.

A RegulationSet change looks up the tenants that use it here instead of listing tenants.
kopf hands both to every handler as keyword arguments named after them (typed as
``handlers.context.RegulationSetIndex`` and ``TenantsByRegulation``).
"""

from __future__ import annotations

from typing import Any

import kopf

from ott_operator.handlers.context import SET_RESOURCE, TENANT_RESOURCE


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.index(*SET_RESOURCE, id="regulation_sets", registry=registry)
    def regulation_sets(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
        used_by = (body.get("status") or {}).get("usedBy")
        return {
            name: {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "metadata": {"name": name, "generation": body.meta.get("generation")},
                "spec": dict(body.spec),
                # None until written: ``handlers.used_by`` then writes [] for a set no one uses
                "usedBy": None if used_by is None else list(used_by),
            }
        }

    @kopf.index(*TENANT_RESOURCE, id="tenants_by_regulation", registry=registry)
    def tenants_by_regulation(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str]:
        return {ref["name"]: name for ref in spec.get("regulations") or [] if "name" in ref}
