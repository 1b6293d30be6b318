"""A project as pure data: its services, validated, frozen, and bound to no runtime.

The readers (toml.py, compose.py) build one; run.py acts on it with a backend. The checks
every file format shares are here, so a project is valid however it was written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import config
from ..errors import ConfigurationError, InvalidSpecError
from ..service import HealthCheck
from ..spec import (
    ALIAS_RE,
    BuildSpec,
    ContainerSpec,
    NetworkAttachment,
    NetworkOptions,
    project_from_directory,
    validate_name,
    validate_network_name,
    validate_project,
)

DEFAULT_READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class ServiceDef:
    """One service of a project: the container to run and how `up` treats it."""

    name: str
    spec: ContainerSpec  # spec.name is the container's name
    project: str
    health_check: HealthCheck | None = None  # checked from the host; else spec.health, else the first port
    build: Path | None = None  # a context directory to build spec.image from
    dockerfile: str = "Dockerfile"  # inside `build`, relative to it
    build_spec: BuildSpec = field(default_factory=BuildSpec)  # build's target, args, cache_from, labels, secrets
    depends_on: tuple[str, ...] = ()
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    unset: tuple[str, ...] = ()  # environment keys named without a value and set nowhere: none reach the container
    replicas: int = 1  # `scale` or `deploy.replicas`: containers <project>-<service>-1 .. -<replicas>
    completed: tuple[str, ...] = ()  # dependencies to wait for until they exit 0 (service_completed_successfully)
    # Dependencies whose restart restarts this service too (depends_on's `restart: true`, and
    # those links and network_mode imply), as Compose's `restart` and `up` do.
    restart_with: tuple[str, ...] = ()
    # The service as a Compose file gave it (interpolated, merged): what `config` prints of the
    # keys this model does not hold. Not compared, not shown (it holds environment values).
    compose: Mapping[str, Any] | None = field(default=None, compare=False, repr=False, kw_only=True)

    @property
    def container_name(self) -> str:
        """The first replica's container: `<project>-<service>-1`, or the file's container_name."""
        return self.spec.name

    def replicas_specs(self) -> tuple[ContainerSpec, ...]:
        """One spec per replica, named as Compose names them: `<project>-<service>-<n>`, n from 1."""
        more = (
            dataclasses.replace(self.spec, name=replica_name(self.project, self.name, n))
            for n in range(2, self.replicas + 1)
        )
        return (self.spec, *more) if self.replicas else ()  # `scale: 0`: the service runs no container


@dataclass(frozen=True)
class NetworkDef:
    """A network the project's services join: `name` on the runtime, made by `up` with `options`
    (and removed by `down`), unless `external` (then it must exist, and is only used)."""

    name: str
    options: NetworkOptions = NetworkOptions()
    external: bool = False
    key: str = ""  # the file's key for it (`networks.<key>`), for messages; "" when none

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", validate_network_name(self.name))


@dataclass(frozen=True)
class Project:
    """The services of one file, in an order where dependencies come first."""

    path: Path
    services: tuple[ServiceDef, ...]
    name: str
    # The networks declared for the services (by runtime name); one joined but not declared
    # here is made with no options. And the labels of named volumes, by runtime name.
    networks: tuple[NetworkDef, ...] = field(default=(), kw_only=True)
    volume_labels: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}), kw_only=True)
    # A Compose file's top-level keys but `services` (interpolated, merged), for `config`.
    compose: Mapping[str, Any] | None = field(default=None, compare=False, repr=False, kw_only=True)

    def only(self, names: Sequence[str]) -> Project:
        """The project with just the services `names` and what they depend on, as `up SERVICE...`
        starts them. An unknown name is refused, naming the services there are."""
        known = {d.name: d for d in self.services}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigurationError(
                f"{self.path}: no service {unknown[0]!r} in project {self.name!r} (its services: {', '.join(known)})"
            )
        wanted: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            if name not in wanted:
                wanted.add(name)
                pending.extend(known[name].depends_on)
        return dataclasses.replace(self, services=tuple(d for d in self.services if d.name in wanted))

    def waves(self) -> list[list[ServiceDef]]:
        """Groups that can start together: each depends only on earlier groups (a cycle ends it)."""
        done: set[str] = set()
        waves: list[list[ServiceDef]] = []
        while True:
            wave = [d for d in self.services if d.name not in done and set(d.depends_on) <= done]
            if not wave:
                return waves
            waves.append(wave)
            done |= {d.name for d in wave}

    @property
    def network(self) -> str:
        """The network the project's services share, named as Compose names it."""
        return default_network(self.name)

    def used_networks(self) -> list[NetworkDef]:
        """The networks the services join, in the order they are first joined, each with how to
        make it (a network not declared: with no options)."""
        declared = {n.name: n for n in self.networks}
        names = dict.fromkeys(n.name for d in self.services for n in d.spec.networks)
        return [declared.get(name) or NetworkDef(name) for name in names]

    def containers_on(self, network: str) -> int:
        """How many of the project's containers join `network`."""
        return sum(d.replicas for d in self.services if any(n.name == network for n in d.spec.networks))

    def named_volumes(self) -> list[str]:
        """The named volumes the project's services mount, in a stable order."""
        return sorted({v.source for d in self.services for v in d.spec.volumes if v.is_named})


def default_network(project: str) -> str:
    """The network a project's services share, named as Compose names it."""
    return f"{project}_default"


def where(path: Path, service: str, key: str) -> str:
    """Where a value is, in an error message: the file, the service and the key."""
    return f"{path}: services.{service}: {key}"


def service_def(
    path: Path,
    name: str,
    image: Any,
    project: str,
    fields: Mapping[str, Any],
    container_name: str | None = None,
    **how: Any,
) -> ServiceDef:
    """A ServiceDef from a reader's values, each validated as ContainerSpec validates it; a bad
    one names the file and the service. `how`: ServiceDef's other fields."""
    try:
        validate_name(name, "service name")
        given = {k: v for k, v in fields.items() if v is not None}
        spec = ContainerSpec(name=container_name or replica_name(project, name, 1), image=image, **given)
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{path}: services.{name}: {exc}") from None
    replicas = how.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ConfigurationError(
            f"{where(path, name, 'scale')}: {replicas!r} is not a number of containers (0 or more)"
        )
    if container_name and replicas > 1:
        raise ConfigurationError(
            f"{where(path, name, 'container_name')}: {replicas} replicas cannot share one container name; "
            "remove container_name or the scale"
        )
    return ServiceDef(name, spec, project, **how)


def replica_name(project: str, service: str, n: int) -> str:
    """The container of a service's n-th replica, as Compose names it."""
    return f"{project}-{service}-{n}"


def project_name(path: Path, explicit: str | None = None) -> str:
    """The project: `explicit` (-p), else $OBLAKO_PROJECT, else the file's directory name,
    normalised as Compose normalises it. Its containers are named `<project>-<service>-<n>`."""
    for given, source in ((explicit, "-p/--project"), (config.project(), config.PROJECT_VAR)):
        if given is not None:
            try:
                return validate_project(given, source)
            except InvalidSpecError as exc:
                raise ConfigurationError(str(exc)) from None
    directory = path.resolve().parent.name
    derived = project_from_directory(directory)
    if not derived:
        raise ConfigurationError(
            f"no project name can be made from the directory name {directory!r} of {path}; name one with "
            f"-p NAME or {config.PROJECT_VAR}"
        )
    return derived


def assemble(path: Path, defs: list[ServiceDef], project: str, **more: Any) -> Project:
    """The checks every file format shares, then the project: dependencies exist and form no
    cycle, no two services claim one container name; a service that names no network (nor a
    network_mode) joins the project's default one, where it answers to its name. What a file
    may say but no run can do is `startable`'s. `more`: Project's other fields."""
    known = {d.name for d in defs}
    for d in defs:
        unknown = [n for n in d.depends_on if n not in known]
        if unknown:
            raise ConfigurationError(f"{where(path, d.name, 'depends_on')}: no service named {unknown[0]!r}")
    _one_service_per_container_name(path, defs)
    network = default_network(project)
    joined = [
        d
        if d.spec.networks or d.spec.network_mode is not None
        else dataclasses.replace(
            d,
            spec=dataclasses.replace(
                d.spec,
                network=None,
                aliases=(),
                networks=(NetworkAttachment(network, (d.name,) if ALIAS_RE.fullmatch(d.name) else ()),),
            ),
        )
        for d in defs
    ]
    built = Project(path, tuple(joined), project, **more)
    if sum(len(w) for w in built.waves()) != len(defs):
        raise ConfigurationError(f"{path}: depends_on forms a cycle; a service cannot wait for itself")
    return built


def startable(project: Project) -> None:
    """What `up` checks before it touches a runtime: things a file may say (Compose reads such a
    file, and `config` prints it) that no run can do. Each refusal names the file and service."""
    owners: dict[tuple[int, str], str] = {}
    declared = {n.name: n for n in project.networks}
    for d in project.services:
        for attached in d.spec.networks if d.spec.network_mode is None else ():
            _startable_address(project, d, attached, declared.get(attached.name))
        if d.build is not None and not (d.build / d.dockerfile).is_file():
            raise ConfigurationError(
                f"{where(project.path, d.name, 'build')}: {d.build} has no {d.dockerfile} to build"
            )
        fixed = [p for p in d.spec.ports if p.host_port is not None]
        if d.replicas > 1 and fixed:
            raise ConfigurationError(
                f"{where(project.path, d.name, 'ports')}: {d.replicas} replicas cannot all publish host port "
                f"{fixed[0].host_port}/{fixed[0].protocol}; publish the container port without a host port "
                "(the runtime picks one per replica), or scale to 1"
            )
        for port in fixed if d.replicas else ():
            key = (port.host_port or 0, port.protocol)
            if key in owners:
                raise ConfigurationError(
                    f"{where(project.path, d.name, 'ports')}: host port {port.host_port}/{port.protocol} is also "
                    f"claimed by services.{owners[key]}; give one of them another host port"
                )
            owners[key] = d.name


def _startable_address(project: Project, d: ServiceDef, attached: NetworkAttachment, net: NetworkDef | None) -> None:
    """A fixed address needs a network made with a subnet that holds it, and one container."""
    if attached.ipv4_address is None:
        return
    key = net.key if net and net.key else attached.name
    at = where(project.path, d.name, f"networks.{key}.ipv4_address")
    if d.replicas > 1:
        raise ConfigurationError(
            f"{at}: {d.replicas} replicas cannot share the address {attached.ipv4_address}; scale to 1"
        )
    if net is not None and net.external:
        return  # its subnet is the runtime's to check
    if net is None or not net.options.holds(attached.ipv4_address):
        raise ConfigurationError(
            f"{at}: {attached.ipv4_address} is in no subnet of network {key!r}; give the network one that "
            f"holds it (networks.{key}.ipam.config: [{{subnet: ...}}])"
        )


def _one_service_per_container_name(path: Path, defs: list[ServiceDef]) -> None:
    """Two services with one container_name would each replace the other: only one would run."""
    owners: dict[str, str] = {}
    for d in defs:
        for spec in d.replicas_specs() or (d.spec,):
            taken = owners.setdefault(spec.name, d.name)
            if taken != d.name:
                raise ConfigurationError(
                    f"{where(path, d.name, 'container_name')}: {spec.name!r} is also the container name "
                    f"of services.{taken}; give each service its own"
                )
