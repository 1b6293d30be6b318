"""oblako-backend-docker: oblako's containers on Docker Engine (and any Docker Engine API).

Importing this package does not import docker-py; that happens on first use.
"""

from .endpoints import Endpoint, resolve
from .plugin import DockerPlugin

__all__ = ["DockerPlugin", "Endpoint", "resolve"]
