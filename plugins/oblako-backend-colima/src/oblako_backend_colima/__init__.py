"""oblako-backend-colima: oblako's containers on Colima's Docker Engine.

Importing this package does not import docker-py; that happens on first use.
"""

from .endpoints import candidates
from .plugin import ColimaPlugin

__all__ = ["ColimaPlugin", "candidates"]
