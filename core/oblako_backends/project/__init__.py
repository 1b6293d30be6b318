"""Projects: services read from a TOML or Compose file into pure data (model), which run.py
acts on with a backend.

    from oblako_backends.project import load
    from oblako_backends.project.run import down, up

    project = load("compose.yaml")          # validated; nothing touched yet
    up(project, get_backend("docker"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigurationError
from .model import DEFAULT_READY_TIMEOUT, Project, ServiceDef, default_network, project_name

__all__ = ["DEFAULT_READY_TIMEOUT", "Project", "ServiceDef", "default_network", "load", "project_name"]


def load(
    path: str | Path | Sequence[str | Path],
    project: str | None = None,
    profiles: Sequence[str] | None = None,
    env_files: Sequence[str | Path] | None = None,
) -> Project:
    """Read and validate a services file, Compose (.yaml, .yml) or TOML, or several Compose
    files merged (`-f a.yaml -f b.yaml`); every mistake names the file, the service and the
    key. `env_files` (`--env-file`) replace a Compose file's `.env`. Only the reader the file
    needs is imported."""
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    if not paths:
        raise ConfigurationError("no services file given")
    if len(paths) > 1 or paths[0].suffix in (".yaml", ".yml"):
        toml_given = [str(p) for p in paths if p.suffix not in (".yaml", ".yml")]
        if toml_given:
            raise ConfigurationError(f"{toml_given[0]}: only Compose files (.yaml, .yml) merge; give a TOML file alone")
        from . import compose

        return compose.read(paths, project, profiles, None if env_files is None else [Path(e) for e in env_files])
    from . import toml

    return toml.read(paths[0], project)
