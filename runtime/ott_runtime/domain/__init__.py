"""Domain core: tenants, regulations, rules and keys. Imports no web or cluster framework."""

from ott_runtime.domain.regulation import (
    Aggregate,
    AggregateFn,
    RegulationSet,
    RegulationSetSpec,
    Rule,
    Severity,
)
from ott_runtime.domain.tenant import ComplianceTenant, ComplianceTenantSpec, Isolation, Plan

API_GROUP = "compliance.ott.dev"
API_VERSION = "v1alpha1"

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "Aggregate",
    "AggregateFn",
    "ComplianceTenant",
    "ComplianceTenantSpec",
    "Isolation",
    "Plan",
    "RegulationSet",
    "RegulationSetSpec",
    "Rule",
    "Severity",
]
