"""The label keys and values the operator puts on a pooled tenant's objects.

The runtime must not import the operator, so they are spelled again here; a unit test
checks that both spellings agree (tests/unit/test_pool_sync_files.py).
"""

from __future__ import annotations

from ott_runtime.domain import API_GROUP

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "ott-compliance-operator"
TENANT = f"{API_GROUP}/tenant"

# Object names in the pool namespace (the operator's naming.TenantNames for pooled tenants)
CONFIG_SUFFIX = "-config"
KEYS_SUFFIX = "-keys"
API_KEY_SUFFIX = "-api-key"

# The operator's objects for one tenant: managed by the operator and carrying a tenant label.
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGED_BY_VALUE},{TENANT}"
