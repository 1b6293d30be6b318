"""Finding backends through entry points and loading the one that was asked for.

A backend is an entry point in group ``oblako.backends``: its name is what users type, its
value a zero-argument factory (usually a class) returning the object that carries the
``@hookimpl`` functions. Several names for the same value in one distribution are aliases.
Listing reads metadata only; loading imports the selected entry point and nothing else.
"""

from __future__ import annotations

import importlib
import os
import sys

from .errors import (
    BackendLoadError,
    ConfigurationError,
    OblakoBackendError,
    RuntimeUnavailableError,
    UnknownBackendError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import pluggy

    from .backend import Backend

GROUP = "oblako.backends"
EXTENSION_GROUP = "oblako.extensions"
GROUPS = (GROUP, EXTENSION_GROUP)
DIST_PREFIX = "oblako-backend-"
CORE_DIST = "oblako-backends"
# First-party backends, in the order `auto` tries them (third-party ones follow, the
# in-memory one never). Each is installed by the core's extra of the same name, when the
# core declares it (read from its metadata, never assumed).
FIRST_PARTY = ("docker", "podman", "colima", "kubernetes", "apple")
FIRST_PARTY_ALIASES = {"k8s": "kubernetes", "container": "apple"}
REFERENCE_BACKENDS = frozenset({"memory"})  # run nothing: never chosen by `auto`, never offered as a runtime
INSTALL_ONE = "install one: pip install 'oblako-backends[docker]' (or [podman], [colima], [kubernetes], [apple])"


class EntryPoint:
    """One entry point, read from a distribution's ``entry_points.txt``."""

    __slots__ = ("name", "value", "distribution", "version")

    def __init__(self, name: str, value: str, distribution: str, version: str):
        self.name, self.value, self.distribution, self.version = name, value, distribution, version

    def load(self) -> Any:
        """Import the module and follow the attribute path (``module:attr.sub``)."""
        module, _, attrs = self.value.partition("[")[0].strip().partition(":")
        obj: Any = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


class BackendInfo:
    """An installed backend, as its distribution's metadata describes it.

    A slotted class with a dataclass's repr and equality, not a dataclass: `import dataclasses`
    brings `inspect`, which would double what `list_backends()` costs in a fresh process."""

    __slots__ = ("name", "aliases", "distribution", "version", "entry_point", "problem", "unavailable")

    def __init__(
        self,
        name: str,
        aliases: tuple[str, ...],
        distribution: str,
        version: str,
        entry_point: str,
        problem: str | None = None,
        unavailable: str | None = None,
    ):
        self.name, self.aliases, self.distribution = name, aliases, distribution
        self.version, self.entry_point, self.problem = version, entry_point, problem
        self.unavailable = unavailable  # loads, but its runtime cannot run on this machine: why

    def __repr__(self) -> str:
        return f"BackendInfo({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BackendInfo) and self.as_dict() == other.as_dict()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def as_dict(self) -> dict[str, object]:
        return {k: list(v) if k == "aliases" else v for k in self.__slots__ for v in [getattr(self, k)]}

    def _entry(self) -> EntryPoint:
        return EntryPoint(self.name, self.entry_point, self.distribution, self.version)


def _normalise(name: str) -> str:
    """PEP 503: lower case, every run of "-", "_" and "." one "-" (no `re`: listing stays cheap)."""
    out: list[str] = []
    for char in name.lower():
        if char in "-_.":
            if not out or out[-1] != "-":
                out.append("-")
        else:
            out.append(char)
    return "".join(out)


def _parse_entry_points(text: str) -> list[tuple[str, str, str]]:
    """The (group, name, value) triples of our groups in an ``entry_points.txt``."""
    found, group = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            group = line[1:-1].strip()
        elif group in GROUPS and "=" in line:
            name, _, value = line.partition("=")
            found.append((group, name.strip(), value.strip()))
    return found


def _name_and_version(meta_dir: str, name: str, version: str) -> tuple[str, str]:
    """The Name and Version headers of a distribution's metadata, as importlib.metadata reads
    them (the folder's name is only a fallback: an egg-info folder may carry no version)."""
    found: dict[str, str] = {}
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta_dir, filename), encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        break
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version"):
                        found.setdefault(key, value.strip())
        except OSError:
            continue
        break
    return found.get("Name", name), found.get("Version", version or "unknown")


def _scan() -> dict[str, list[EntryPoint]]:
    """Our groups' entry points from every distribution on sys.path, first one of a name winning.

    One pass serves backends and extensions alike. It reads ``*.dist-info`` / ``*.egg-info``
    folders directly: importing importlib.metadata alone costs more than starting the
    interpreter, and listing must stay cheap.
    """
    seen: set[str] = set()
    out: dict[str, list[EntryPoint]] = {group: [] for group in GROUPS}
    for entry in sys.path:
        folder = entry or "."
        if os.path.isfile(folder):  # a zip on sys.path: let importlib.metadata read it
            _scan_zip(folder, seen, out)
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for meta in names:
            stem, dot, kind = meta.rpartition(".")
            if not dot or kind not in ("dist-info", "egg-info"):
                continue
            dist, _, version = stem.partition("-")
            key = _normalise(dist)
            if key in seen:
                continue
            seen.add(key)
            meta_dir = os.path.join(folder, meta)
            try:
                with open(os.path.join(meta_dir, "entry_points.txt"), encoding="utf-8") as f:
                    triples = _parse_entry_points(f.read())
            except OSError:
                continue
            if triples:
                display, release = _name_and_version(meta_dir, dist, version.partition("-")[0])
                for group, name, value in triples:
                    out[group].append(EntryPoint(name, value, display, release))
    return out


def _scan_zip(path: str, seen: set[str], out: dict[str, list[EntryPoint]]) -> None:
    import importlib.metadata as md

    for dist in md.distributions(path=[path]):
        key = _normalise(dist.metadata["Name"] or "")
        if key in seen:
            continue
        seen.add(key)
        for ep in dist.entry_points:
            if ep.group in out:
                out[ep.group].append(EntryPoint(ep.name, ep.value, dist.metadata["Name"], dist.version))


def list_backends(*, check: bool = False) -> list[BackendInfo]:
    """Every installed backend, from metadata alone.

    With ``check=True`` each backend's module is imported too, and `problem` says why one
    cannot load (nothing is raised).
    """
    return _backends(_scan()[GROUP], check)


def _backends(entries: list[EntryPoint], check: bool = False) -> list[BackendInfo]:
    """Group entry points into backends: same distribution and value means aliases."""
    groups: dict[tuple[str, str], list[EntryPoint]] = {}
    for ep in entries:
        groups.setdefault((ep.distribution, ep.value), []).append(ep)
    out: list[BackendInfo] = []
    for (dist_name, value), eps in groups.items():
        names = [ep.name for ep in eps]
        own = _normalise(dist_name).removeprefix(DIST_PREFIX)
        canonical = own if own in names else names[0]
        info = BackendInfo(
            name=canonical,
            aliases=tuple(n for n in names if n != canonical),
            distribution=dist_name,
            version=eps[0].version,
            entry_point=value,
        )
        if check:
            info.problem = _load_problem(info)
            if info.problem is None:
                from .hookspecs import unavailable_here  # here: a plain listing never loads pluggy

                info.unavailable = unavailable_here(_load_factory(info))
        out.append(info)
    return sorted(out, key=lambda b: (b.name, b.distribution))


def _load_problem(info: BackendInfo) -> str | None:
    try:
        _load_factory(info)
    except BackendLoadError as exc:
        return str(exc)
    return None


def _describe(info: BackendInfo) -> str:
    return f"entry point {info.name} = {info.entry_point} from distribution {info.distribution} {info.version}"


def _load_factory(info: BackendInfo) -> Any:
    try:
        return info._entry().load()
    except Exception as exc:
        fix = _core_too_old(info.distribution) if isinstance(exc, ImportError) else None
        raise BackendLoadError(
            f"backend {info.name!r} is installed but failed to load ({_describe(info)}): "
            f"{type(exc).__name__}: {exc}. {fix or f'Reinstall or upgrade {info.distribution}.'}"
        ) from exc


def _core_too_old(distribution: str) -> str | None:
    """When `distribution` was built for another version of this core, say which and what to do."""
    import importlib.metadata as md  # only on this error path
    import re

    try:
        core = md.version(CORE_DIST)
        wanted = [r for r in md.requires(distribution) or [] if re.match(rf"{CORE_DIST}\s*[<>=!~(]", r)]
    except md.PackageNotFoundError:
        return None
    needs = wanted[0].split(";")[0][len(CORE_DIST) :].strip(" ()") if wanted else ""
    if not needs or _satisfies(core, needs):
        return None
    return (
        f"{distribution} needs {CORE_DIST}{needs}, and this is {CORE_DIST} {core}: install a matching pair, "
        f"e.g. pip install --upgrade '{CORE_DIST}' '{distribution}'."
    )


def _satisfies(version: str, specifiers: str) -> bool:
    """Does `version` meet every clause of `specifiers` (">=0.2.0,<0.3", "==0.2.0")? Release numbers only."""
    import re

    def release(text: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", text.split("+")[0])[:3])

    checks = {
        ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    }  # fmt: skip
    for clause in filter(None, (c.strip() for c in specifiers.split(","))):
        op = next((o for o in (">=", "<=", "==", "!=", "~=", ">", "<") if clause.startswith(o)), None)
        if op is None or op == "~=":
            continue  # not one this check knows: leave it to pip
        have, bound = release(version), release(clause[len(op) :])
        width = max(len(have), len(bound))
        if not checks[op](have + (0,) * (width - len(have)), bound + (0,) * (width - len(bound))):
            return False
    return True


def _install_hint(name: str) -> str | None:
    """How to get a first-party backend, from the extras the installed core really declares."""
    import importlib.metadata as md  # only on this error path

    extra = FIRST_PARTY_ALIASES.get(name, name)
    if extra not in FIRST_PARTY:
        return None
    try:
        core = md.metadata(CORE_DIST)
    except md.PackageNotFoundError:
        return None
    if extra in (core.get_all("Provides-Extra") or []):
        return f"Install it with: pip install '{CORE_DIST}[{extra}]'"
    return f"The first-party {extra} backend is not released with {CORE_DIST} {core['Version']} yet."


def _find(name: str, installed: list[BackendInfo]) -> BackendInfo:
    """The one installed backend answering to `name` (a name or an alias)."""
    matches = [b for b in installed if name in b.names]
    if not matches:
        hint = _install_hint(name)
        listing = [b.name + (f" (alias {', '.join(b.aliases)})" if b.aliases else "") for b in installed]
        raise UnknownBackendError(name, listing, hint)
    if len(matches) > 1:
        claims = "; ".join(_describe(b) for b in matches)
        raise BackendLoadError(
            f"backend name {name!r} is claimed by more than one distribution: {claims}. Uninstall all but one of them."
        )
    return matches[0]


def get_backend(name: str | None = None, **options: Any) -> Backend:
    """Load the selected backend: `name`, else $OBLAKO_CONTAINER_BACKEND, else docker.

    `options` go to the backend's factory (for example ``base_url=`` for docker). The name
    ``auto`` picks the first installed backend whose runtime answers a bounded probe.
    """
    from . import config

    chosen, why = config.selected_backend(name)
    found = _scan()
    installed, extensions = _backends(found[GROUP]), found[EXTENSION_GROUP]
    if chosen == "auto":
        if options:
            raise ConfigurationError("options cannot be combined with 'auto'; name a backend")
        return _auto(why, installed, extensions)
    return _load(_find(chosen, installed), why, options, extensions)


def _load(info: BackendInfo, selected_by: str, options: dict[str, Any], extensions: list[EntryPoint]) -> Backend:
    """Import one backend, register it alone in a fresh PluginManager, and wrap it."""
    import pluggy

    from . import config, hookspecs
    from .backend import Backend

    factory = _load_factory(info)
    try:
        plugin = factory(**options)
    except OblakoBackendError:
        raise
    except TypeError as exc:
        if options:
            raise ConfigurationError(f"backend {info.name!r} does not accept options {sorted(options)}: {exc}") from exc
        raise BackendLoadError(f"backend {info.name!r} could not be created: {exc}") from exc
    except Exception as exc:
        raise BackendLoadError(
            f"backend {info.name!r} could not be created ({_describe(info)}): {type(exc).__name__}: {exc}"
        ) from exc
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(plugin, name=f"backend:{info.name}")
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise BackendLoadError(f"backend {info.name!r} does not match the contract ({_describe(info)}): {exc}") from exc
    _register_extensions(pm, extensions)
    if config.flag(config.TRACE_VAR):
        from .trace import install_tracing

        install_tracing(pm)
    import logging  # here, not at the top: listing backends stays as cheap as starting Python

    logging.getLogger(__name__).debug(
        "backend %s selected by %s (%s %s)", info.name, selected_by, info.distribution, info.version
    )
    return Backend(info.name, pm, selected_by=selected_by, info=info)


def _register_extensions(pm: pluggy.PluginManager, entries: list[EntryPoint]) -> None:
    """Register extension plugins (hookwrappers). A broken one is reported and skipped."""
    for ep in entries:
        try:
            obj = ep.load()
            pm.register(obj() if isinstance(obj, type) else obj, name=f"extension:{ep.name}")
            pm.check_pending()
        except Exception as exc:
            dist, version = ep.distribution, ep.version
            import warnings

            warnings.warn(
                f"oblako extension {ep.name} = {ep.value} from {dist} {version} was skipped: "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )


def _auto(why: str, installed: list[BackendInfo], extensions: list[EntryPoint]) -> Backend:
    from . import config

    installed = [b for b in installed if b.name not in REFERENCE_BACKENDS]
    rank = {name: i for i, name in enumerate(FIRST_PARTY)}
    installed.sort(key=lambda b: (rank.get(b.name, len(rank)), b.name))
    tried: list[tuple[str, str]] = []
    deadline = config.probe_timeout()
    for info in installed:
        try:
            backend = _load(info, f"auto, {why}", {}, extensions)
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
        f"Podman), or set {config.BACKEND_VAR} to the one you want."
        if installed
        else f"No container runtime backend is installed; {INSTALL_ONE}",
    )


def answering_instead(current: str) -> str | None:
    """When `current` does not answer: which other installed backend does, and how to pick it."""
    from . import config

    rank = {name: i for i, name in enumerate(FIRST_PARTY)}
    others = sorted(
        (b for b in list_backends() if b.name != current and b.name not in REFERENCE_BACKENDS),
        key=lambda b: (rank.get(b.name, len(rank)), b.name),
    )
    from .hookspecs import unavailable_here

    for info in others:
        try:
            factory = _load_factory(info)
            if unavailable_here(factory):
                continue
            if _load(info, "a check", {}, []).probe(timeout=min(2.0, config.probe_timeout())).reachable:
                return (
                    f"{info.name} answers: select it with --backend {info.name} or "
                    f"{config.BACKEND_VAR}={info.name} ({config.BACKEND_VAR}=auto picks the first that answers)"
                )
        except OblakoBackendError:
            continue
    return None


def docker_client() -> Any:
    """A docker-py client on the same daemon as the selected backend's services.

    For the compute paths (Lambda exec, Glue jobs, SageMaker local) that need a Docker API.
    Under a backend without one (kubernetes, apple) it comes from the docker backend, which
    reads the ambient Docker environment (DOCKER_HOST, contexts) as the Docker CLI does.
    """
    selected = get_backend()
    if "docker_api" in selected.capabilities:  # declared by the plugin: known without connecting
        return selected.docker_client()
    try:
        fallback = get_backend("docker")
    except UnknownBackendError:
        raise OblakoBackendError(
            f"the selected backend has no Docker API, and the compute paths need one: pip install '{CORE_DIST}[docker]'"
        ) from None
    return fallback.docker_client()
