"""The tenant reconciler, one module per step of a pass (CloudNativePG's
``internal/controller/cluster_*.go`` are split the same way):

- ``tenant``: ``TenantReconciler``, the pass in order, and the lock, trace and metrics
  around it;
- ``resolve``: the tenant's regulations resolved and compiled (RegulationsResolved);
- ``keys``: the keyring Secret read and planned, the API key read back;
- ``apply``: server-side apply of the desired objects (drift-aware);
- ``prune``: owned objects no longer desired deleted;
- ``observe``: the Deployment and the route read back (ScoringAvailable, GatewayReady);
- ``tenant_status``: pure, observations in, status and Events out.

The desired objects themselves come from the pure builders (``ott_operator.builders``); the
status write is ``ott_operator.status_patch``.
"""
