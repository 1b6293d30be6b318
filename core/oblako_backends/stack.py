"""Deprecated since 0.3.0: moved to `oblako_backends.project` (read) and
`oblako_backends.project.run` (up, down). Every name here still works through 0.2.x, with a
DeprecationWarning naming where it went. Old calls took a project bound to a backend
(`load(path, backend)`, then `up(stack)`); they still do.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from .project import load as _read
from .project.model import Project as _Project

_MOVED = {  # old name: (module, new name)
    "ServiceDef": ("project.model", "ServiceDef"),
    "DEFAULT_READY_TIMEOUT": ("project.model", "DEFAULT_READY_TIMEOUT"),
    "default_network": ("project.model", "default_network"),
    "project_name": ("project.model", "project_name"),
    "assemble": ("project.model", "assemble"),
    "KEYS": ("project.toml", "KEYS"),
    "PROJECT_VAR": ("config", "PROJECT_VAR"),
    "ServiceOutcome": ("project.run", "ServiceOutcome"),
    "StackError": ("project.run", "ProjectError"),
    "Interrupted": ("project.run", "Interrupted"),
    "INTERRUPT_WAIT": ("project.run", "INTERRUPT_WAIT"),
    "INTERRUPT_GRACE": ("project.run", "INTERRUPT_GRACE"),
    "VolumesRemoved": ("project.run", "VolumesRemoved"),
    "ServiceProgress": ("project.run", "ServiceProgress"),
}


@dataclasses.dataclass(frozen=True)
class _BoundProject(_Project):
    """What 0.2's `load(path, backend)` returned: a project and the backend it runs on."""

    backend: Any = None

    @property
    def project(self) -> str:
        return self.name


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"oblako_backends.stack.{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def _backend(stack: Any) -> Any:
    from .plugins import get_backend

    return getattr(stack, "backend", None) or get_backend()


def _load(path: str | Path, backend: Any = None, project: str | None = None) -> _BoundProject:
    _deprecated("load", "oblako_backends.project.load(path, project)")
    found = _read(path, project)
    return _BoundProject(
        found.path, found.services, found.name, backend, networks=found.networks, volume_labels=found.volume_labels
    )


def _up(stack: Any, *args: Any, **kwargs: Any) -> Any:
    _deprecated("up", "oblako_backends.project.run.up(project, backend)")
    from .project.run import up

    return up(stack, _backend(stack), *args, **kwargs)


def _down(stack: Any, jobs: int | None = None) -> dict[str, str]:
    _deprecated("down", "oblako_backends.project.run.down(project, backend)")
    from .project.run import down

    return down(stack, _backend(stack), jobs)


def _remove_volumes(stack: Any) -> Any:
    _deprecated("remove_volumes", "oblako_backends.project.run.remove_volumes(project, backend)")
    from .project.run import remove_volumes

    return remove_volumes(stack, _backend(stack))


def _document(stack: Any, show_environment: bool = False) -> dict[str, Any]:
    _deprecated("document", "oblako_backends.project.normal_form.write(project)")
    from .project.normal_form import write

    return write(stack, show_environment)


def _named_volumes(stack: Any) -> list[str]:
    _deprecated("named_volumes", "Project.named_volumes()")
    return list(stack.named_volumes())


_CALLS = {
    "load": _load,
    "up": _up,
    "down": _down,
    "remove_volumes": _remove_volumes,
    "document": _document,
    "named_volumes": _named_volumes,
    "Stack": _BoundProject,
}


def __getattr__(name: str) -> Any:
    if name in _CALLS:
        if name == "Stack":
            _deprecated(name, "oblako_backends.project.Project")
        return _CALLS[name]
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, new = _MOVED[name]
    _deprecated(name, f"oblako_backends.{module}.{new}")
    import importlib

    return getattr(importlib.import_module(f"oblako_backends.{module}"), new)
