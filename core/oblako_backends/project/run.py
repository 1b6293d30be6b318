"""What acts on a project: `up`, `down` and `remove_volumes`, with one backend.

The project (model.py) is bound to no runtime: the `Service`s that start and stop its
containers are made here, from each ServiceDef and what the backend can do (`adapt`), so
`down` after `up` sees the same project as `down` of a fresh read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..backend import Backend
from ..errors import ConfigurationError, NotOwnedError, OblakoBackendError, ServiceNotReadyError
from ..models import RUNNING, ContainerInfo, NetworkCapacity
from ..service import HealthCheck, Service, default_check
from ..spec import ALIAS_RE, ContainerSpec, NetworkAttachment, NetworkOptions, network_mode_capability
from .model import NetworkDef, Project, ServiceDef, startable

log = logging.getLogger(__name__)
ServiceProgress = Callable[[str, str], None]  # (service, line): what `up` reports as it goes
Unit = tuple[ServiceDef, Service]  # one container of a service: what `up` starts


@dataclass
class ServiceOutcome:
    """What `up` did to one service."""

    name: str  # the service
    container: str = ""  # its container (one per replica)
    started: bool = False
    error: str = ""
    logs: str = ""
    endpoints: list[str] = field(default_factory=list)


class ProjectError(OblakoBackendError):
    """`up` failed; `outcomes` says which services failed and what they logged."""

    def __init__(self, message: str, outcomes: list[ServiceOutcome]):
        super().__init__(message)
        self.outcomes = outcomes


def adapt(project: Project, capabilities: frozenset[str], runtime: str) -> tuple[Project, list[str]]:
    """The project as this backend will run it, and one line for each thing it changes: no
    network where service names cannot resolve, and health checks from the host where the
    backend cannot run them in the container. Pure: nothing is touched."""
    said: list[str] = []
    services = list(project.services)
    if "service_names" not in capabilities and "network_by_address" in capabilities:
        said.append(
            f"service names do not resolve on {runtime}: services on a network reach each other by address, "
            "or through their published ports on the host (host.docker.internal)"
        )
        services = [
            dataclasses.replace(d, spec=dataclasses.replace(d.spec, network=None, aliases=(), networks=nameless))
            for d in services
            for nameless in [tuple(dataclasses.replace(n, aliases=()) for n in d.spec.networks)]
        ]
    elif "service_names" not in capabilities:
        said.append(
            f"service names do not resolve on {runtime}: services reach each other through their published "
            "ports on the host (host.docker.internal)"
        )
        services = [
            dataclasses.replace(d, spec=dataclasses.replace(d.spec, network=None, aliases=(), networks=()))
            for d in services
        ]
    services, networks, changed = _networking(project, services, capabilities, runtime)
    said += changed
    if "health" not in capabilities:
        for i, d in enumerate(services):
            if d.spec.health is not None:
                instead = "the check given" if d.health_check else "its first published port, from the host"
                said.append(
                    f"{d.name}: {runtime} cannot run health checks inside the container; waiting for {instead} instead"
                )
                services[i] = dataclasses.replace(d, spec=dataclasses.replace(d.spec, health=None))
    if "selinux" not in capabilities:
        for i, d in enumerate(services):
            relabelled = [v.target for v in d.spec.volumes if v.selinux]
            if relabelled:
                said.append(
                    f"{d.name}: volumes: {', '.join(relabelled)}: :z/:Z (SELinux relabelling): {runtime} cannot "
                    "apply it (capability 'selinux'); mounted without it"
                )
                volumes = tuple(dataclasses.replace(v, selinux=None) for v in d.spec.volumes)
                services[i] = dataclasses.replace(d, spec=dataclasses.replace(d.spec, volumes=volumes))
    for i, d in enumerate(services):
        services[i], dropped = _without_unsupported(d, capabilities, runtime)
        said += dropped
    return dataclasses.replace(project, services=tuple(services), networks=networks), said


def _networking(
    project: Project, services: list[ServiceDef], capabilities: frozenset[str], runtime: str
) -> tuple[list[ServiceDef], tuple[NetworkDef, ...], list[str]]:
    """The networking this backend cannot give, taken out with one line each: several networks
    become one (every service then reaches every other), fixed addresses and network modes go,
    and networks are made without driver, internal and subnets."""
    said: list[str] = []
    out = list(services)
    used = {n.name for d in services for n in d.spec.networks}
    if "networks" not in capabilities and len(used) > 1:
        said.append(
            f"networks: {runtime} has one network for the project: services on different networks reach each other"
        )
    for i, d in enumerate(out):
        spec = d.spec
        needs = spec.network_needs()
        if "networks" in needs and "networks" not in capabilities:
            aliases = tuple(dict.fromkeys(a for n in spec.networks for a in n.aliases))
            said.append(
                f"{d.name}: networks: {runtime} joins it to one network only ({spec.networks[0].name})"
                + (", answering there to the aliases it has on each" if aliases else "")
            )
            first = dataclasses.replace(spec.networks[0], aliases=aliases)
            spec = dataclasses.replace(spec, network=None, aliases=(), networks=(first,))
        if "ipv4_address" in needs and "ipv4_address" not in capabilities:
            said.append(f"{d.name}: ipv4_address: {runtime} cannot fix it; the runtime picks the address")
            plain = tuple(dataclasses.replace(n, ipv4_address=None) for n in spec.networks)
            spec = dataclasses.replace(spec, network=None, aliases=(), networks=plain)
        mode = spec.network_mode
        if mode is not None and network_mode_capability(mode) not in capabilities:
            said.append(
                f"{d.name}: network_mode: {runtime} cannot apply {mode} (capability "
                f"{network_mode_capability(mode)!r}); the service joins the project's network instead"
            )
            named = "service_names" in capabilities
            joined = NetworkAttachment(project.network, (d.name,) if named and ALIAS_RE.fullmatch(d.name) else ())
            joins = named or "network_by_address" in capabilities
            spec = dataclasses.replace(spec, network_mode=None, networks=(joined,) if joins else ())
        out[i] = dataclasses.replace(d, spec=spec)
    networks = project.networks
    if "network_options" not in capabilities:
        used = {n.name for d in out for n in d.spec.networks}
        for net in (n for n in networks if n.name in used and n.options.special and not n.external):
            said.append(
                f"networks.{net.key or net.name}: {runtime} cannot make it with a driver, internal or subnets "
                "(capability 'network_options'); it is made as the runtime makes networks"
            )
        networks = tuple(
            dataclasses.replace(n, options=NetworkOptions(labels=n.options.labels)) if n.options.special else n
            for n in networks
        )
    return out, networks, said


def _without_unsupported(
    definition: ServiceDef, capabilities: frozenset[str], runtime: str
) -> tuple[ServiceDef, list[str]]:
    """The service without the options this backend cannot apply, and one line per field
    dropped: the facade would refuse the whole container for one of them."""
    defaults = {f.name: f for f in dataclasses.fields(ContainerSpec)}
    dropped: dict[str, Any] = {}
    said: list[str] = []
    for capability, names in definition.spec.needs().items():
        if capability in capabilities:
            continue
        for name in names:
            default = defaults[name]
            dropped[name] = (
                default.default_factory() if default.default_factory is not dataclasses.MISSING else default.default
            )
            said.append(
                f"{definition.name}: {name}: {runtime} cannot apply it (capability {capability!r}); "
                "the service runs without it"
            )
    if not dropped:
        return definition, said
    return dataclasses.replace(definition, spec=dataclasses.replace(definition.spec, **dropped)), said


def service(definition: ServiceDef, backend: Backend, spec: ContainerSpec | None = None) -> Service:
    """The Service that starts, waits for and stops one container of a ServiceDef on `backend`:
    `spec` (one of its replicas), else its first."""
    spec = spec or definition.spec
    made = Service(
        definition.name,
        spec.image,
        backend=backend,
        container_name=spec.name,
        project=definition.project,
        health_check=definition.health_check,
        # `down` gives it its stop_grace_period, as Compose does (else Docker's default, 10 s).
        stop_timeout=DEFAULT_STOP_SECONDS if spec.stop_grace_period is None else spec.stop_grace_period,
    )
    made.spec = spec
    return made


def replicas(definition: ServiceDef, backend: Backend) -> list[Service]:
    """A Service for each of the definition's replicas (none for `scale: 0`)."""
    return [service(definition, backend, spec) for spec in definition.replicas_specs()]


DEFAULT_STOP_SECONDS = 10.0


class Interrupted(ProjectError):
    """`up` was interrupted (Ctrl-C or SIGTERM); what it had started was stopped again."""


INTERRUPT_WAIT = 4.0  # seconds an interrupted `up` waits for starts in flight to notice
INTERRUPT_GRACE = 3.0  # seconds each service then gets to stop: the whole cleanup stays under 10 s


def up(
    project: Project,
    backend: Backend,
    progress: ServiceProgress | None = None,
    jobs: int | None = None,
    cancel: threading.Event | None = None,
    hurry: threading.Event | None = None,
    prepared: threading.Event | None = None,
) -> list[ServiceOutcome]:
    """Start every service, dependencies first, independent ones together (at most `jobs` at
    once, default OBLAKO_JOBS); wait until ready.

    On any failure, everything this file describes is stopped again and `ProjectError` says
    which services failed, with their last log lines, and names any it could not stop.
    Setting `cancel` (a first Ctrl-C) ends the waiting, stops what this `up` started and
    raises `Interrupted`; setting `hurry` too (a second Ctrl-C) removes them at once.
    `prepared` is set once the volumes and the network exist, before any service starts:
    until then nothing needs stopping, so an interrupt may end `up` at once (the CLI does).
    """
    limit = jobs or config.jobs()  # a bad OBLAKO_JOBS is refused before the runtime is touched
    startable(project)
    shown: ServiceProgress = progress or (lambda service, line: None)

    def say(service: str, line: str) -> None:
        log.debug("%s: %s", service, line)
        shown(service, line)

    waits = [(d.name, name) for d in project.services for name in d.completed]
    if waits and "exit_code" not in backend.capabilities:
        service, dependency = waits[0]
        raise ConfigurationError(
            f"{project.path}: services.{service}: depends_on: {dependency}: condition "
            f"'service_completed_successfully' needs to know how {dependency} exited, which the {backend.name} "
            "backend cannot tell (capability 'exit_code'); nothing was started. Use service_started, or "
            "run that service on its own first"
        )
    refuse_unbuildable(project.path, project.services, backend)
    project, changes = adapt(project, backend.capabilities, backend.name)
    for line in changes:
        warnings.warn(line, stacklevel=2)
    units = [(d, svc) for d in project.services for svc in replicas(d, backend)]
    _create_volumes(project, backend)
    _create_networks(project, backend)  # may wait for another process's lock on the network
    _remove_superseded(project, backend)
    if prepared is not None:
        prepared.set()
    cancel = cancel or threading.Event()
    hurry = hurry or threading.Event()
    outcomes = {svc.container_name: ServiceOutcome(d.name, svc.container_name) for d, svc in units}
    touched: list[Service] = []  # containers whose start this `up` began: only these are undone
    failed = threading.Event()

    def unless_cancelled(check: HealthCheck) -> HealthCheck:
        def checked(service: Service, info: ContainerInfo) -> bool:
            if cancel.is_set():
                raise _Cancelled
            return check(service, info)

        return checked

    awaited = {name for d in project.services for name in d.completed}
    recreated: set[str] = set()  # services whose running container this `up` replaced
    images: dict[str, threading.Lock] = {d.name: threading.Lock() for d in project.services}
    ready_images: set[str] = set()

    def start(unit: Unit) -> None:
        definition, svc = unit
        outcome = outcomes[svc.container_name]
        label = svc.name if definition.replicas <= 1 else svc.container_name.removeprefix(f"{project.name}-")
        try:
            if cancel.is_set():
                return
            info = svc.info()
            again = [n for n in definition.restart_with if n in recreated]  # depends_on's restart: true
            current = svc.runs_current(info) and not again  # up already, unchanged: no image, nothing to create
            if not current:
                with images[definition.name]:  # built or pulled once, for all its replicas
                    if definition.name not in ready_images:
                        get_image(definition, svc.backend, lambda line: say(label, line))
                        ready_images.add(definition.name)
                if cancel.is_set():
                    return
                touched.append(svc)
                if again and info is not None:  # restarted with what it depends on, as Compose's up
                    say(label, f"restarting: {again[0]} was recreated")
                    svc.stop()
                if svc.start() and info is not None and info.state == RUNNING:
                    recreated.add(definition.name)  # its running container replaced: what restarts with it, too
            outcome.started = True
            if definition.name in awaited:  # a one-off others wait for with service_completed_successfully
                say(label, "started; waiting until it completes")
                _completed(svc, definition.ready_timeout, cancel)
                say(label, "completed")
                return
            say(label, f"{'running' if current else 'started'}; waiting until ready")
            info = svc.wait_ready(
                timeout=definition.ready_timeout,
                health_check=unless_cancelled(svc.health_check or default_check),
            )
            for p in svc.spec.ports:
                found = info.endpoint(p.container_port, p.protocol)
                if found:
                    outcome.endpoints.append(f"{found[0]}:{found[1]} -> {p.container_port}/{p.protocol}")
            log.info("%s is ready (%s)", svc.name, svc.container_name)
            say(label, "ready")
        except _Cancelled:
            return
        except ServiceNotReadyError as exc:
            outcome.error, outcome.logs = str(exc), exc.logs
            failed.set()
        except OblakoBackendError as exc:
            outcome.error = str(exc)
            try:
                outcome.logs = svc.logs(tail=20)
            except OblakoBackendError:
                outcome.logs = ""
            failed.set()

    for wave in project.waves():
        in_wave = {d.name for d in wave}
        _join(_workers([u for u in units if u[0].name in in_wave], start, limit), cancel, hurry)
        if cancel.is_set() or failed.is_set():
            break
    if cancel.is_set():
        left = _undo(touched, hurry)
        stopped = [svc.container_name for svc in touched if svc.container_name not in left]
        what = (
            f"stopped {', '.join(stopped)}" if stopped else "nothing was stopped" if touched else "nothing had started"
        )
        raise Interrupted(f"interrupted; {what}{_still_there(left)}", [])
    if failed.is_set():
        left = {name: why.splitlines()[0] for name, why in down(project, backend).items()}
        bad = [o for o in outcomes.values() if o.error]
        names = ", ".join(dict.fromkeys(o.name for o in bad))
        if left:
            raise ProjectError(f"{names} failed to start{_still_there(left)}", bad)
        raise ProjectError(f"{names} failed to start; everything was stopped again", bad)
    return list(outcomes.values())


def refuse_unbuildable(path: Path | str, services: Sequence[ServiceDef], backend: Backend) -> None:
    """Refuse, before anything is built or started, the build keys this backend's builder
    cannot apply: one line per key and service. Dropping one would build another image."""
    refused = [
        f"{path}: services.{d.name}.{line}"
        for d in services
        if d.build is not None
        for line in backend.unbuildable(d.build_spec)
    ]
    if refused:
        raise ConfigurationError("\n".join([*refused, "nothing was built or started"]))


def get_image(definition: ServiceDef, backend: Backend, say: Callable[[str], None]) -> None:
    """The service's image, built from its `build` (saying so), else pulled when missing."""
    if definition.build is not None:
        say(f"building {definition.spec.image} from {definition.build}")
        backend.build_image(
            definition.spec.image, str(definition.build), say, definition.dockerfile, definition.build_spec
        )
    else:
        backend.ensure_image(definition.spec.image, progress=say)


def _completed(svc: Service, timeout: float, cancel: threading.Event) -> None:
    """Wait until `svc`'s container has exited 0 (Compose's service_completed_successfully);
    any other end, or none within `timeout`, is a failure that names it."""
    end = time.monotonic() + timeout
    while True:
        if cancel.is_set():
            raise _Cancelled
        info = svc.info()
        if info is None:
            raise OblakoBackendError(f"{svc.container_name} was removed before it completed")
        if info.state != RUNNING and not info.starting:
            if info.exit_code == 0:
                return
            if info.exit_code is None:
                raise OblakoBackendError(
                    f"the {svc.backend.name} backend cannot tell how {svc.container_name} ended; "
                    "service_completed_successfully needs its exit code: use service_started on this backend"
                )
            raise OblakoBackendError(
                f"{svc.container_name} exited with code {info.exit_code}; what depends on it with "
                "service_completed_successfully was not started"
            )
        if time.monotonic() > end:
            raise OblakoBackendError(f"{svc.container_name} did not complete within {timeout:g} s")
        time.sleep(0.2)


def _workers(wave: list[Unit], start: Callable[[Unit], None], limit: int) -> list[threading.Thread]:
    """At most `limit` threads, started, that take the wave's containers in turn until none is left.
    Daemon threads: a pull still running after an interrupt must not keep the process alive."""
    pending = iter(list(wave))
    taking = threading.Lock()

    def work() -> None:
        while True:
            with taking:
                unit = next(pending, None)
            if unit is None:
                return
            start(unit)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(limit, len(wave))))]
    for worker in workers:
        worker.start()
    return workers


def _join(workers: list[threading.Thread], cancel: threading.Event, hurry: threading.Event) -> None:
    """Wait for `workers` in short steps, so a Ctrl-C in this (the main) thread is seen at once.

    Once cancelled, wait at most INTERRUPT_WAIT more: a readiness wait ends within one poll,
    a create within its call; a long pull is left behind (it starts nothing afterwards). Once
    hurried (a second Ctrl-C), not at all.
    """
    end: float | None = None
    while any(w.is_alive() for w in workers):
        if hurry.is_set():
            return
        if cancel.is_set():
            end = end or time.monotonic() + INTERRUPT_WAIT
            if time.monotonic() > end:
                return
        try:
            for worker in workers:
                worker.join(timeout=0.1)
        except KeyboardInterrupt:
            cancel.set()


class _Cancelled(Exception):
    """Raised inside a health check to end a readiness wait when `up` is interrupted."""


def _undo(started: list[Service], hurry: threading.Event) -> dict[str, str]:
    """Stop what an interrupted `up` started; {container: why not} for what could not be.

    Graceful (a short stop) unless `hurry`; a second Ctrl-C while graceful stops are under way
    sets `hurry` and removes the services still being stopped at once.
    """
    left: dict[str, str] = {}
    done: set[str] = set()

    def undo(svc: Service, force: bool) -> None:
        try:
            if force:
                svc.backend.remove(svc.container_name, project=svc.project)
            else:
                svc.backend.stop(
                    svc.container_name, timeout=min(svc.stop_timeout, INTERRUPT_GRACE), project=svc.project
                )
        except OblakoBackendError as exc:
            left[svc.container_name] = str(exc).splitlines()[0]
            return
        left.pop(svc.container_name, None)
        done.add(svc.container_name)

    def launch(force: bool) -> list[threading.Thread]:
        pending = [d for d in started if d.container_name not in done]
        threads = [threading.Thread(target=undo, args=(d, force), daemon=True) for d in pending]
        for thread in threads:
            thread.start()
        return threads

    hurried = hurry.is_set()  # read once, before launching: a Ctrl-C after this is seen by the loop
    threads = launch(force=hurried)
    end = time.monotonic() + INTERRUPT_GRACE if hurried else None
    while any(t.is_alive() for t in threads):
        try:
            for thread in threads:
                thread.join(timeout=0.1)
        except KeyboardInterrupt:
            hurry.set()
        if hurry.is_set() and not hurried:  # a second Ctrl-C: remove, don't wait for graceful stops
            hurried = True
            threads = launch(force=True)
            end = time.monotonic() + INTERRUPT_GRACE
        if end is not None and time.monotonic() > end:  # the user asked to be done: stop waiting
            break
    for svc in started:  # still being stopped or removed when we stopped waiting
        if svc.container_name not in done and svc.container_name not in left:
            left[svc.container_name] = "the runtime had not answered when the command ended"
    return left


def _still_there(left: dict[str, str]) -> str:
    """The sentence that names what could not be stopped, and how to remove it."""
    if not left:
        return ""
    names = ", ".join(f"{name} ({why})" for name, why in sorted(left.items()))
    return (
        f"; could NOT stop {names}: they may still be running. When the runtime answers again, "
        "remove them with `oblako-backends down FILE` (or `oblako-backends rm CONTAINER`)"
    )


def superseded(
    project: Project, backend: Backend, listed: Sequence[ContainerInfo] | None = None
) -> list[ContainerInfo]:
    """Containers this layer made for the project's services that no replica of the file is
    named: a container named as 0.2 named them (`<project>-<service>`), or a replica beyond the
    service's scale. `up` removes them, `down` stops them with the rest. `listed`: what
    `backend.list()` gave moments ago (else it is asked)."""
    wanted = {spec.name for d in project.services for spec in d.replicas_specs()}
    services = {d.name for d in project.services}
    return [
        i
        for i in (backend.list() if listed is None else listed)
        if i.owned and i.project == project.name and i.service in services and i.name not in wanted
    ]


def orphans(
    project: Project, backend: Backend, services: set[str], listed: Sequence[ContainerInfo] | None = None
) -> list[ContainerInfo]:
    """Containers this layer made for the project whose service is none of `services` (every
    service the file has, profiles or not): a service removed from the file or renamed.
    `listed`: what `backend.list()` gave moments ago (else it is asked)."""
    found = backend.list() if listed is None else listed
    return [i for i in found if i.owned and i.project == project.name and i.service not in services]


def _remove_superseded(project: Project, backend: Backend) -> None:
    for info in superseded(project, backend):
        log.info("removing %s: %s now runs as %s", info.name, info.service, _replica_names(project, info.service))
        try:
            backend.remove(info.name, project=project.name)
        except OblakoBackendError as exc:
            raise ProjectError(f"can't replace {info.name!r} of service {info.service!r}: {exc}", []) from exc


def _replica_names(project: Project, service: str | None) -> str:
    found = [spec.name for d in project.services if d.name == service for spec in d.replicas_specs()]
    return ", ".join(found) or "no container (scale 0)"


def _create_volumes(project: Project, backend: Backend) -> None:
    """Make the project's named volumes itself, labelled, so `down -v` can tell them from
    volumes that existed before (those are used as they are and never removed)."""
    if "remove_volumes" not in backend.capabilities:
        return
    for name in project.named_volumes():
        try:
            backend.create_volume(name, project.name, project.volume_labels.get(name))
        except Interrupted:
            raise
        except OblakoBackendError as exc:
            raise ProjectError(f"can't create volume {name!r}: {exc}", []) from exc


def _create_networks(project: Project, backend: Backend) -> None:
    """The networks the project's services join (see `adapt`): each made with its options, or,
    when external, found (never made)."""
    for net in project.used_networks():
        name = net.name
        try:
            if net.external:
                if backend.has_network(name) is False:
                    raise ProjectError(
                        f"network {name!r} is external (networks.{net.key or name}.external) but does not exist on "
                        f"{backend.name}; create it first (`{backend.name} network create {name}`), or let `up` make "
                        "it (remove external)",
                        [],
                    )
                continue
            created = backend.create_network(name, project.name, project.containers_on(name), net.options)
            room = backend.network_capacity(name)
        except Interrupted:
            raise  # Ctrl-C while waiting for another `up`'s lock on the network: not a failure of it
        except ProjectError:
            raise
        except OblakoBackendError as exc:
            raise ProjectError(f"can't create network {name!r}: {exc}", []) from exc
        if room is not None:
            _refuse_what_the_network_cannot_hold(project, backend, room, created, name)


def _refuse_what_the_network_cannot_hold(
    project: Project, backend: Backend, room: NetworkCapacity, created: bool, name: str
) -> None:
    """Before any service starts: a project with more containers than its network has addresses
    for would start some and fail the rest (each start waiting out its deadline)."""
    ours = {
        spec.name
        for d in project.services
        if any(n.name == name for n in d.spec.networks)
        for spec in d.replicas_specs()
    }
    others = [c for c in room.attached if c not in ours]
    containers = len(ours)
    if containers + len(others) <= room.addresses:
        return
    named = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    held = f", {len(others)} of them held by other containers ({named})" if others else ""
    prefix = next(p for p in range(30, 0, -1) if 2 ** (32 - p) - 3 >= containers + len(others))
    if created:
        with contextlib.suppress(OblakoBackendError):
            backend.remove_network(name, project.name)
        whence = (
            f"{backend.name} made it from its default address pools, which give networks this small: "
            "give the engine pools of larger networks (Docker: `default-address-pools` in daemon.json), or "
        )
    else:
        whence = "it existed before this `up`, and is used as it is: remove it, or "
    raise ProjectError(
        f"network {name!r} ({room.subnet}) has addresses for {room.addresses} containers"
        f"{held}, and project {project.name!r} has {containers} containers; nothing was "
        f"started. {whence[0].upper()}{whence[1:]}create the network yourself with a subnet of /{prefix} "
        f"or larger (e.g. `{backend.name} network create --subnet 10.123.0.0/{prefix} {name}`), which `up` "
        "then uses and `down` keeps; or split the project",
        [],
    )


@dataclass
class VolumesRemoved:
    """What `remove_volumes` did with each of the project's named volumes."""

    removed: list[str] = field(default_factory=list)
    not_ours: list[str] = field(default_factory=list)  # there before the project: kept on purpose
    failed: dict[str, str] = field(default_factory=dict)  # volume: why it could not be removed


def remove_volumes(project: Project, backend: Backend) -> VolumesRemoved:
    """After `down`: remove the named volumes this project created, and only those. A backend
    that cannot tell them from others (no `remove_volumes` capability) removes none: an error."""
    if "remove_volumes" not in backend.capabilities:
        raise OblakoBackendError(f"the {backend.name} backend cannot remove volumes; remove them with its own tools")
    done = VolumesRemoved()
    for name in project.named_volumes():
        try:
            if backend.remove_volume(name, project.name):
                done.removed.append(name)
        except NotOwnedError:
            done.not_ours.append(name)
        except OblakoBackendError as exc:
            done.failed[name] = str(exc).splitlines()[0]
    return done


def containers(project: str, backend: Backend) -> dict[str, list[str]]:
    """{service: its containers} of the project named `project` as the runtime has it now (what
    `logs --project` shows): found by label, so no file is needed."""
    found: dict[str, list[str]] = {}
    for info in backend.list():
        if info.project == project:
            found.setdefault(info.service or info.name, []).append(info.name)
    return found


def down(
    project: Project,
    backend: Backend,
    jobs: int | None = None,
    remove: Sequence[ContainerInfo] = (),
    listed: Sequence[ContainerInfo] | None = None,
) -> dict[str, str]:
    """Stop (and remove) every service of the file, dependents first, at most `jobs` at once
    (default: OBLAKO_JOBS), then the project's network if this layer made it; keep named volumes.
    `remove`: the project's orphans (`orphans`) to stop first. `listed`: what `backend.list()`
    gave moments ago (else it is asked, once): a container seen there with its ID is checked
    there and stopped by that ID, with no look-up of its own. Returns {service or container:
    why} for each one that could not be stopped."""
    errors: dict[str, str] = {}
    limit = jobs or config.jobs()
    if listed is None:
        try:
            listed = backend.list()
        except OblakoBackendError:
            listed = []  # the stops below then say what is wrong with the runtime
    seen = {i.name: i for i in listed if i.id and i.owned and i.project == project.name}
    for info in remove:
        try:
            backend.stop(info.name, project=project.name, seen=seen.get(info.name))
        except OblakoBackendError as exc:
            errors[info.name] = str(exc)
    project, _ = adapt(project, backend.capabilities, backend.name)  # the network `up` made, or none, as `up` decided
    stale: dict[str, list[str]] = {}
    for info in superseded(project, backend, listed):
        stale.setdefault(str(info.service), []).append(info.name)
    for wave in reversed(project.waves()):
        services = [
            (d.name, svc)
            for d in wave
            for svc in [*replicas(d, backend), *(_named(d, name, backend) for name in stale.get(d.name, ()))]
        ]
        with ThreadPoolExecutor(max_workers=max(1, min(limit, len(services)))) as pool:
            stops = pool.map(lambda svc: _stop(svc, seen.get(svc.container_name)), [svc for _, svc in services])
            for (name, _svc), error in zip(services, stops, strict=True):
                if error:
                    errors[name] = error
    for net in project.used_networks() if not errors else ():
        if net.external:
            continue  # used, never removed
        try:
            backend.remove_network(net.name, project.name)
        except NotOwnedError:
            pass  # there before the project: used, never removed
        except OblakoBackendError as exc:
            errors[f"network {net.name}"] = str(exc)
    return errors


def restart(project: Project, backend: Backend, names: list[str], jobs: int | None = None) -> list[ServiceOutcome]:
    """`docker compose restart [SERVICE...]`: stop the named services' containers (all when
    none is named) and those that restart with them (depends_on's `restart: true`), dependents
    first, then start them again and wait until ready, as `up` does. What they depend on is
    left running; the network and volumes stay."""
    if names:
        project.only(names)  # an unknown name is refused, naming the services there are
    picked = {d.name for d in project.services if not names or d.name in names}
    while True:  # and what restarts with them (depends_on's restart: true), as Compose's restart
        more = {d.name for d in project.services if d.name not in picked and set(d.restart_with) & picked}
        if not more:
            break
        picked |= more
    subset = dataclasses.replace(
        project,
        services=tuple(
            dataclasses.replace(
                d,
                depends_on=tuple(n for n in d.depends_on if n in picked),
                completed=tuple(n for n in d.completed if n in picked),
            )
            for d in project.services
            if d.name in picked
        ),
    )
    adapted, _ = adapt(subset, backend.capabilities, backend.name)
    for wave in reversed(adapted.waves()):
        services = [svc for d in wave for svc in replicas(d, backend)]
        with ThreadPoolExecutor(max_workers=max(1, min(jobs or config.jobs(), len(services)))) as pool:
            failed = {svc.container_name: e for svc, e in zip(services, pool.map(_stop, services), strict=True) if e}
        if failed:
            name, error = next(iter(failed.items()))
            raise OblakoBackendError(f"can't restart {name}: {error}")
    return up(subset, backend, jobs=jobs)


def create(project: Project, backend: Backend, progress: ServiceProgress | None = None) -> list[ServiceOutcome]:
    """`docker compose up --no-start`: the project's volumes, network and containers, none of
    them started; `up` or `start` starts them. A container already made from the same spec is
    kept as it is; one made from an older spec is replaced. Needs the capability ``create``."""
    if "create" not in backend.capabilities:
        raise OblakoBackendError(
            f"the {backend.name} backend cannot create containers without starting them (capability 'create'); "
            "nothing was created. Use `up` instead"
        )
    startable(project)
    shown: ServiceProgress = progress or (lambda service, line: None)
    refuse_unbuildable(project.path, project.services, backend)
    project, changes = adapt(project, backend.capabilities, backend.name)
    for line in changes:
        warnings.warn(line, stacklevel=2)
    _create_volumes(project, backend)
    _create_networks(project, backend)
    _remove_superseded(project, backend)
    outcomes = []
    for definition in project.services:

        def say(line: str, key: str = definition.name) -> None:
            shown(key, line)

        if definition.replicas:
            get_image(definition, backend, say)
        for spec in definition.replicas_specs():
            outcome = ServiceOutcome(definition.name, spec.name)
            info = backend.inspect(spec.name)
            if info is not None and (
                info.spec_hash != spec.fingerprint() or not info.owned or info.project != project.name
            ):  # an older spec: removed; not ours, or another project's: refused by remove
                backend.remove(spec.name, project=project.name)
                info = None
            if info is None:
                backend.create(spec, service=definition.name, project=project.name)
                say("created")
            outcomes.append(outcome)
    return outcomes


def start(project: Project, backend: Backend, names: list[str], jobs: int | None = None) -> list[ServiceOutcome]:
    """`docker compose start [SERVICE...]`: start the containers the named services (all when
    none is named) and what they depend on already have, as `up --no-start` made them, and
    wait until ready as `up` does. A service without its container is refused before anything
    starts."""
    chosen = project.only(names) if names else project
    adapted, _ = adapt(chosen, backend.capabilities, backend.name)  # the specs `up --no-start` made them from
    for definition in adapted.services:
        for spec in definition.replicas_specs():
            info = backend.inspect(spec.name)
            if info is None:
                raise OblakoBackendError(
                    f"service {definition.name!r} has no container to start ({spec.name}); nothing was started. "
                    "`up` creates and starts it, `up --no-start` creates it"
                )
            if info.spec_hash != spec.fingerprint():  # `start` starts what is there; it never recreates
                raise OblakoBackendError(
                    f"service {definition.name!r}: its container {spec.name} was made from another version of "
                    "the file; nothing was started. `up` recreates it"
                )
    return up(chosen, backend, jobs=jobs)


ONE_OFF_LINES = 1_000_000  # what a one-off printed before its output was followed: all of it


def one_off(
    project: Project,
    backend: Backend,
    service: str,
    command: Sequence[str] = (),
    output: Callable[[str], None] = print,
    remove: bool = True,
) -> int:
    """`docker compose run [--rm] SERVICE [CMD...]`: start what `service` depends on (and wait
    until ready), then run one container of it with `command` (else its own), without its
    published ports, its output passed on line by line; return its exit code. `remove`: the
    container goes when it ends. Needs the capabilities `follow_logs` and `exit_code`."""
    (definition,) = [d for d in project.only([service]).services if d.name == service]
    for needed in ("follow_logs", "exit_code"):
        if needed not in backend.capabilities:
            raise OblakoBackendError(f"the {backend.name} backend cannot run a one-off (capability {needed!r})")
    if definition.depends_on:
        up(project.only(list(definition.depends_on)), backend)
    alone = dataclasses.replace(project, services=(dataclasses.replace(definition, depends_on=(), completed=()),))
    adapted, changes = adapt(alone, backend.capabilities, backend.name)
    for line in changes:
        warnings.warn(line, stacklevel=2)
    spec = dataclasses.replace(
        adapted.services[0].spec,
        name=f"{project.name}-{service}-run-{secrets.token_hex(3)}",
        command=tuple(command) if command else adapted.services[0].spec.command,
        ports=(),  # as Compose's run without --service-ports: no host port clashes with the service's
        restart="no",  # runs once, as Compose's run does (a runtime whose default restarts is told)
    )
    backend.ensure_image(spec.image)
    backend.run(spec, service=service, project=project.name)
    try:
        with backend.follow_logs(spec.name, tail=ONE_OFF_LINES) as lines:
            for line in lines:
                output(line)
        end = time.monotonic() + config.call_timeout()
        while True:
            info = backend.inspect(spec.name)
            if info is not None and info.state != RUNNING and info.exit_code is not None:
                return info.exit_code
            if time.monotonic() > end:
                raise OblakoBackendError(f"{spec.name}: its output ended, but it did not say how it exited")
            time.sleep(0.05)
    finally:
        if remove:
            backend.remove(spec.name, project=project.name)


def _named(definition: ServiceDef, container: str, backend: Backend) -> Service:
    """A Service for a container of `definition` that is not one of its replicas (see `superseded`)."""
    return service(definition, backend, dataclasses.replace(definition.spec, name=container))


def _stop(svc: Service, seen: ContainerInfo | None = None) -> str:
    try:
        svc.stop(seen)
    except OblakoBackendError as exc:
        return str(exc)
    return ""
