"""Storage: SQLAlchemy 2 (async) over SQLite (embedded) or PostgreSQL, Alembic migrations,
and a repository layer that is tenant-scoped by construction."""

from ott_runtime.storage.database import Database
from ott_runtime.storage.records import (
    EventQuery,
    NewEvent,
    NewRiskScore,
    NewViolation,
    StoredViolation,
    ViolationQuery,
)
from ott_runtime.storage.repositories import Store, TenantData
from ott_runtime.storage.scope import TenantScope

__all__ = [
    "Database",
    "EventQuery",
    "NewEvent",
    "NewRiskScore",
    "NewViolation",
    "Store",
    "StoredViolation",
    "TenantData",
    "TenantScope",
    "ViolationQuery",
]
