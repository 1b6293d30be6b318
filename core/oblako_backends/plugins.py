"""Finding backends through entry points and loading the one that was asked for.

A backend is an entry point in group ``oblako.backends``: its name is what users type, its
value a zero-argument factory (usually a class) returning the object that carries the
``@hookimpl`` functions. Several names for the same value in one distribution are aliases.
Listing reads metadata only; loading imports the selected entry point and nothing else.
"""

from __future__ import annotations

import importlib.metadata as md
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pluggy

from . import config, hookspecs
from .backend import Backend
from .errors import (
    BackendLoadError,
    ConfigurationError,
    OblakoBackendError,
    RuntimeUnavailableError,
    UnknownBackendError,
)

GROUP = "oblako.backends"
EXTENSION_GROUP = "oblako.extensions"
DIST_PREFIX = "oblako-backend-"
# First-party names (aliases included) and the extra that installs each.
FIRST_PARTY_EXTRAS = {
    "docker": "docker",
    "podman": "podman",
    "colima": "colima",
    "kubernetes": "kubernetes",
    "k8s": "kubernetes",
    "apple": "apple",
    "container": "apple",
}
# The order `auto` tries backends in; third-party ones follow, the in-memory one never.
AUTO_ORDER = ("docker", "podman", "colima", "kubernetes", "apple")
AUTO_EXCLUDED = frozenset({"memory"})


@dataclass(frozen=True)
class BackendInfo:
    """An installed backend, as its distribution's metadata describes it."""

    name: str
    aliases: tuple[str, ...]
    distribution: str
    version: str
    entry_point: str
    problem: str | None = None
    _entry: md.EntryPoint | None = field(default=None, repr=False, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.entry_point,
            "problem": self.problem,
        }


def _dist_of(ep: md.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"] or "unknown", dist.version or "unknown"


def _entry_points(group: str) -> list[md.EntryPoint]:
    """Entry points of `group`, without the duplicates a path listed twice produces."""
    seen: set[tuple[str, str, str]] = set()
    out: list[md.EntryPoint] = []
    for ep in md.entry_points(group=group):
        key = (_dist_of(ep)[0].lower().replace("_", "-"), ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            out.append(ep)
    return out


def list_backends(*, check: bool = False) -> list[BackendInfo]:
    """Every installed backend, from metadata alone.

    With ``check=True`` each backend's module is imported too, and `problem` says why one
    cannot load (nothing is raised).
    """
    groups: dict[tuple[str, str], list[md.EntryPoint]] = {}
    for ep in _entry_points(GROUP):
        groups.setdefault((_dist_of(ep)[0], ep.value), []).append(ep)
    out: list[BackendInfo] = []
    for (dist_name, value), eps in groups.items():
        names = [ep.name for ep in eps]
        own = dist_name.lower().replace("_", "-").removeprefix(DIST_PREFIX)
        canonical = own if own in names else names[0]
        primary = eps[names.index(canonical)]
        info = BackendInfo(
            name=canonical,
            aliases=tuple(n for n in names if n != canonical),
            distribution=dist_name,
            version=_dist_of(primary)[1],
            entry_point=value,
            _entry=primary,
        )
        if check:
            info = replace(info, problem=_load_problem(info))
        out.append(info)
    return sorted(out, key=lambda b: (b.name, b.distribution))


def _load_problem(info: BackendInfo) -> str | None:
    try:
        _load_factory(info)
    except BackendLoadError as exc:
        return str(exc)
    return None


def _describe(info: BackendInfo) -> str:
    return (
        f"entry point {info.name} = {info.entry_point} "
        f"from distribution {info.distribution} {info.version}"
    )


def _load_factory(info: BackendInfo) -> Any:
    assert info._entry is not None
    try:
        return info._entry.load()
    except Exception as exc:
        raise BackendLoadError(
            f"backend {info.name!r} is installed but failed to load ({_describe(info)}): "
            f"{type(exc).__name__}: {exc}. Reinstall or upgrade {info.distribution}."
        ) from exc


def find_backend(name: str) -> BackendInfo:
    """The one installed backend answering to `name` (a name or an alias)."""
    installed = list_backends()
    matches = [b for b in installed if name in b.names]
    if not matches:
        extra = FIRST_PARTY_EXTRAS.get(name)
        hint = f"pip install 'oblako-backends[{extra}]'" if extra else None
        listing = [b.name + (f" (alias {', '.join(b.aliases)})" if b.aliases else "") for b in installed]
        raise UnknownBackendError(name, listing, hint)
    if len(matches) > 1:
        claims = "; ".join(_describe(b) for b in matches)
        raise BackendLoadError(
            f"backend name {name!r} is claimed by more than one distribution: {claims}. "
            "Uninstall all but one of them."
        )
    return matches[0]


def get_backend(name: str | None = None, **options: Any) -> Backend:
    """Load the selected backend: `name`, else $OBLAKO_CONTAINER_BACKEND, else docker.

    `options` go to the backend's factory (for example ``base_url=`` for docker). The name
    ``auto`` picks the first installed backend whose runtime answers a bounded probe.
    """
    chosen, why = config.selected_backend(name)
    if chosen == "auto":
        if options:
            raise ConfigurationError("options cannot be combined with 'auto'; name a backend")
        return _auto(why)
    return load_backend(find_backend(chosen), why, options)


def load_backend(info: BackendInfo, selected_by: str, options: dict[str, Any]) -> Backend:
    """Import one backend, register it alone in a fresh PluginManager, and wrap it."""
    factory = _load_factory(info)
    try:
        plugin = factory(**options)
    except OblakoBackendError:
        raise
    except TypeError as exc:
        if options:
            raise ConfigurationError(
                f"backend {info.name!r} does not accept options {sorted(options)}: {exc}"
            ) from exc
        raise BackendLoadError(f"backend {info.name!r} could not be created: {exc}") from exc
    except Exception as exc:
        raise BackendLoadError(
            f"backend {info.name!r} could not be created ({_describe(info)}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(plugin, name=f"backend:{info.name}")
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise BackendLoadError(
            f"backend {info.name!r} does not match the contract ({_describe(info)}): {exc}"
        ) from exc
    _register_extensions(pm, _entry_points(EXTENSION_GROUP))
    if config.flag(config.TRACE_VAR):
        from .trace import install_tracing

        install_tracing(pm)
    return Backend(info.name, pm, selected_by=selected_by, info=info)


def _register_extensions(pm: pluggy.PluginManager, entries: Iterable[md.EntryPoint]) -> None:
    """Register extension plugins (hookwrappers). A broken one is reported and skipped."""
    for ep in entries:
        try:
            obj = ep.load()
            pm.register(obj() if isinstance(obj, type) else obj, name=f"extension:{ep.name}")
            pm.check_pending()
        except Exception as exc:
            dist, version = _dist_of(ep)
            warnings.warn(
                f"oblako extension {ep.name} = {ep.value} from {dist} {version} was skipped: "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )


def _auto(why: str) -> Backend:
    installed = [b for b in list_backends() if b.name not in AUTO_EXCLUDED]
    rank = {name: i for i, name in enumerate(AUTO_ORDER)}
    installed.sort(key=lambda b: (rank.get(b.name, len(rank)), b.name))
    tried: list[tuple[str, str]] = []
    deadline = config.probe_timeout()
    for info in installed:
        try:
            backend = load_backend(info, f"auto, {why}", {})
            probe = backend.probe(timeout=deadline)
        except OblakoBackendError as exc:
            tried.append((info.name, str(exc).splitlines()[0]))
            continue
        if probe.reachable:
            return backend
        tried.append((info.name, probe.error or "not reachable"))
    raise RuntimeUnavailableError(
        "auto",
        tried,
        "No installed backend's runtime answered. Start a runtime (for example Docker or "
        f"Podman), or set {config.BACKEND_VAR} to the one you want and run "
        "`oblako-backends doctor` to see what is wrong with it.",
    )


def docker_client() -> Any:
    """A docker-py client on the same daemon as the selected backend's services.

    For the compute paths (Lambda exec, Glue jobs, SageMaker local) that need a Docker API.
    Under a backend without one (kubernetes, apple) this falls back to the ambient Docker
    environment (DOCKER_HOST or the current Docker context).
    """
    client = get_backend().docker_client()
    if client is not None:
        return client
    try:
        import docker
    except ImportError:
        raise OblakoBackendError(
            "the selected backend has no Docker API and docker-py is not installed; the compute "
            "paths need one: pip install 'oblako-backends[docker]'"
        ) from None
    return docker.from_env(timeout=int(config.call_timeout()))
