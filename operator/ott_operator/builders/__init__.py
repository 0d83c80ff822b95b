"""Pure builders: a ``TenantContext`` in, Kubernetes objects (plain dicts) out.

One module per owned kind or concern; ``tenant.desired_objects`` composes them. Nothing
here talks to the API server, so every field is unit-tested without a cluster.
"""
