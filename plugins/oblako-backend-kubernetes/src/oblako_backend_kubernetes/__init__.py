"""oblako-backend-kubernetes: oblako's containers as Kubernetes workloads, through kubectl.

Importing this package starts nothing; kubectl runs on first use.
"""

from .plugin import KubernetesPlugin

__all__ = ["KubernetesPlugin"]
