"""Pool sync: copies pooled tenants' ConfigMaps and Secrets into the folders `ottc serve`
reads in cluster mode (one folder per tenant), so the shared pool serves them."""

from ott_runtime.poolsync.files import PoolFolders, TenantObject, classify

__all__ = ["PoolFolders", "TenantObject", "classify"]
