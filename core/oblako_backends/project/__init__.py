"""Projects: services read from a TOML or Compose file into pure data (model), which run.py
acts on with a backend.

    from oblako_backends.project import load
    from oblako_backends.project.run import down, up

    project = load("compose.yaml")          # validated; nothing touched yet
    up(project, get_backend("docker"))
"""

from __future__ import annotations

from pathlib import Path

from .model import DEFAULT_READY_TIMEOUT, Project, ServiceDef, default_network, project_name

__all__ = ["DEFAULT_READY_TIMEOUT", "Project", "ServiceDef", "default_network", "load", "project_name"]


def load(path: str | Path, project: str | None = None) -> Project:
    """Read and validate a services file, Compose (.yaml, .yml) or TOML; every mistake names the
    file, the service and the key. Only the reader the file needs is imported."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        from . import compose

        return compose.read(path, project)
    from . import toml

    return toml.read(path, project)
