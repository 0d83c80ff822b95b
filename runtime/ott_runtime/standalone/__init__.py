"""Standalone mode (YAML files, no cluster) and the in-cluster configuration, plus the
uvicorn server both use."""

from ott_runtime.standalone.config import ServiceConfig, cluster_config, standalone_config
from ott_runtime.standalone.server import build_server

__all__ = ["ServiceConfig", "build_server", "cluster_config", "standalone_config"]
