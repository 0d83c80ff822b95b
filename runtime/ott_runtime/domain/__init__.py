"""Domain core: tenants, regulations, rules and keys. Imports no web or cluster framework."""

from ott_runtime.domain.contract import API_GROUP, API_VERSION
from ott_runtime.domain.regulation import (
    Aggregate,
    AggregateFn,
    RegulationSet,
    RegulationSetSpec,
    Rule,
    Severity,
)
from ott_runtime.domain.tenant import ComplianceTenant, ComplianceTenantSpec, Isolation, Plan

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
