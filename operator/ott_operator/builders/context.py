"""What every builder reads: the tenant, its resolved rules, its keys and the settings.

Builders are pure: a ``TenantContext`` in, Kubernetes objects (plain dicts) out. The
handler gathers the inputs that live in the cluster (resolved rules, the current keyring,
the issued API key) and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ott_operator import labels
from ott_operator.naming import TenantNames
from ott_operator.settings import OperatorSettings, PlanProfile
from ott_runtime.domain.keyring import KeyRing
from ott_runtime.domain.tenant import ComplianceTenant, StorageMode

Object = dict[str, Any]


@dataclass(frozen=True)
class TenantContext:
    tenant: ComplianceTenant
    settings: OperatorSettings
    rules_config: Mapping[str, Any]
    keyring: KeyRing
    api_key: str
    rotation_request: str | None = None
    names: TenantNames = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", TenantNames.of(self.tenant, self.settings))

    @property
    def name(self) -> str:
        return self.tenant.name

    @property
    def plan(self) -> PlanProfile:
        return self.settings.plan(self.tenant.spec.plan)

    @property
    def storage_mode(self) -> StorageMode:
        return self.tenant.spec.storage.mode

    @property
    def suspended(self) -> bool:
        return self.tenant.spec.suspended

    @property
    def replica_bounds(self) -> tuple[int, int]:
        """(min, max) scoring replicas: spec, else plan; embedded SQLite allows one."""
        if self.storage_mode is StorageMode.EMBEDDED:
            return 1, 1
        replicas = self.tenant.spec.scoring.replicas
        if replicas is not None:
            return replicas.min, replicas.max
        return self.plan.replicas_min, self.plan.replicas_max

    @property
    def autoscaled(self) -> bool:
        """An HPA owns the replica count (never for embedded storage or a suspended tenant)."""
        return self.storage_mode is not StorageMode.EMBEDDED and not self.suspended

    def metadata(
        self,
        name: str,
        *,
        component: str | None = None,
        namespaced: bool = True,
        annotations: Mapping[str, str] | None = None,
        extra_labels: Mapping[str, str] | None = None,
    ) -> Object:
        meta: Object = {"name": name, "labels": labels.tenant_labels(self.name, component)}
        if extra_labels:
            meta["labels"].update(extra_labels)
        if namespaced:
            meta["namespace"] = self.names.namespace
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta
