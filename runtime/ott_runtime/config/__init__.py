"""Where a runtime's tenants, keys and API keys come from: YAML files (standalone, `ottc serve
--config`) or the files the operator mounts from ConfigMaps and Secrets (in a cluster), and
the reloader that keeps a serving process in step with the mounted files."""

from ott_runtime.config.loading import ServiceConfig, cluster_config, standalone_config

__all__ = ["ServiceConfig", "cluster_config", "standalone_config"]
