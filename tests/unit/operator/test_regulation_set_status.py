"""A RegulationSet's status has two parts with one writer each: the set handlers write its
conditions and rule count, ``handlers.used_by`` its ``usedBy``; neither undoes the other."""

from __future__ import annotations

import copy
from typing import Any

from ott_operator.handlers.regulationset import write_set_status
from ott_operator.handlers.used_by import refresh_used_by

from .conftest import COMPLIANCE_API, GDPR
from .fake_kube import FakeKube


def _stored(kube: FakeKube, name: str = "gdpr") -> dict[str, Any]:
    found = kube.get(COMPLIANCE_API, "RegulationSet", name)
    assert found is not None
    return found


def _index(kube: FakeKube, *names: str) -> dict[str, list[dict[str, Any]]]:
    """The regulation_sets index as kopf holds it: set name -> [its indexed document]."""
    index = {}
    for name in names:
        body = _stored(kube, name)
        document = {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")}
        document["usedBy"] = (body.get("status") or {}).get("usedBy")
        index[name] = [document]
    return index


def test_the_set_handlers_write_conditions_and_leave_used_by_alone() -> None:
    kube = FakeKube()
    kube.create({**GDPR, "status": {"usedBy": ["acme", "tiny"]}})

    write_set_status(kube, _stored(kube))

    status = _stored(kube)["status"]
    assert status["usedBy"] == ["acme", "tiny"]
    assert status["ruleCount"] == 1
    assert status["conditions"][0]["reason"] == "Compiled"
    assert kube.reasons() == ["Compiled"]


def test_used_by_follows_the_tenants_index_without_a_leaving_tenant() -> None:
    kube = FakeKube()
    kube.create(GDPR)
    kube.create({**copy.deepcopy(GDPR), "metadata": {"name": "coppa", "generation": 1}})
    tenants = {"gdpr": ["tiny", "acme", "acme"]}

    refresh_used_by(kube, _index(kube, "gdpr", "coppa"), tenants)  # type: ignore[arg-type]
    assert _stored(kube)["status"]["usedBy"] == ["acme", "tiny"]
    assert _stored(kube, "coppa")["status"]["usedBy"] == []  # written once, as empty

    refresh_used_by(kube, _index(kube, "gdpr", "coppa"), tenants, leaving="tiny")  # type: ignore[arg-type]
    assert _stored(kube)["status"]["usedBy"] == ["acme"]

    writes = len(kube.status_patches)
    refresh_used_by(kube, _index(kube, "gdpr", "coppa"), tenants, leaving="tiny")  # type: ignore[arg-type]
    assert len(kube.status_patches) == writes  # in step: nothing written
