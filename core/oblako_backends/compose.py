"""Deprecated since 0.3.0: moved to `oblako_backends.project.compose`. Every name here still
works through 0.2.x, with a DeprecationWarning naming where it went."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

_MOVED = frozenset(
    {
        "DOCKERFILE",
        "DEFAULT_FILES",
        "SUPPORTED",
        "NO_LOCAL_EFFECT",
        "TOP_LEVEL",
        "VOLUME_NAME",
        "find_default",
        "duration",
    }
)


def _load_compose(path: Path, backend: Any = None, project: str | None = None) -> Any:
    warnings.warn(
        "oblako_backends.compose.load_compose is deprecated: use oblako_backends.project.load(path, project)",
        DeprecationWarning,
        stacklevel=2,
    )
    from .project import compose
    from .stack import _BoundProject

    found = compose.read(Path(path), project)
    return _BoundProject(found.path, found.services, found.name, backend)


def __getattr__(name: str) -> Any:
    if name == "load_compose":
        return _load_compose
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"oblako_backends.compose.{name} is deprecated: use oblako_backends.project.compose.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    from .project import compose

    return getattr(compose, name)
