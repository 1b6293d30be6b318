"""oblako-backend-podman: oblako's containers on Podman, through its Docker-compatible API.

Importing this package does not import docker-py; that happens on first use.
"""

from .endpoints import candidates
from .plugin import PodmanPlugin

__all__ = ["PodmanPlugin", "candidates"]
