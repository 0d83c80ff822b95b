"""What the cluster holds, parsed into domain models: a tenant's body and the indexed
RegulationSets. The API server validated both against the CRDs; the models check again
and say what is wrong if they disagree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.tenant import ComplianceTenant


def regulation_sets(
    documents: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, RegulationSet], list[str]]:
    """Parse indexed RegulationSet documents; the second item names the ones that do not parse."""
    sets: dict[str, RegulationSet] = {}
    broken: list[str] = []
    for document in documents:
        name = document["metadata"]["name"]
        wire = {k: document[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in document}
        try:
            sets[name] = RegulationSet.model_validate(wire)
        except ValidationError as exc:
            broken.append(f"RegulationSet {name} is invalid: {exc.errors()[0]['msg']}")
    return sets, broken


def parse_tenant(body: Mapping[str, Any]) -> ComplianceTenant:
    meta = body["metadata"]
    document = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {
            "name": meta["name"],
            "labels": meta.get("labels") or {},
            "annotations": meta.get("annotations") or {},
            "generation": meta.get("generation"),
            "uid": meta.get("uid"),
        },
        "spec": body.get("spec") or {},
    }
    try:
        return ComplianceTenant.model_validate(document)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
