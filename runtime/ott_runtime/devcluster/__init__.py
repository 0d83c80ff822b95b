"""A real Kubernetes control plane on loopback, for the test suite and `ottc dev-cluster`."""

from ott_runtime.devcluster.access import ClusterAccess, KubeCommandError
from ott_runtime.devcluster.controlplane import ControlPlane, ControlPlaneError
from ott_runtime.devcluster.tools import ToolsNotFoundError, find_tools_bin

__all__ = [
    "ClusterAccess",
    "ControlPlane",
    "ControlPlaneError",
    "KubeCommandError",
    "ToolsNotFoundError",
    "find_tools_bin",
]
