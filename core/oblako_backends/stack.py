"""A set of services described in a TOML file: what `oblako-backends up` and `down` act on.

    [services.web]
    image = "localhost/web:1"          # required
    build = "web"                      # optional: a context directory, relative to the file
    ports = ["8080:80", "9000/udp"]    # HOST:CONTAINER[/PROTO] or CONTAINER[/PROTO]
    env = { MODE = "dev" }
    volumes = ["web-data:/data", "/abs/host/path:/conf:ro"]
    command = "sh -c 'exec httpd -f'"  # a string (split as a shell would) or a list
    working_dir = "/srv"
    user = "1000"
    extra_hosts = { "host.docker.internal" = "host-gateway" }
    depends_on = ["db"]                # started (and ready) before this one
    health = { http = "/health", port = 80, timeout = 60 }   # or { tcp = 80 } or { log = "ready" }

The whole file is validated before any runtime is touched. `up` starts the services whose
dependencies are ready together (at most OBLAKO_JOBS, default 8, at once), waits for each to
be ready, and on any failure stops what it started, so a failed `up` leaves nothing running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from .backend import Backend
from .errors import ConfigurationError, InvalidSpecError, NotOwnedError, OblakoBackendError, ServiceNotReadyError
from .models import ContainerInfo, NetworkCapacity
from .reading import check_depth, read_text, too_deep
from .service import HealthCheck, Service, default_check, http_check, log_check, tcp_check
from .spec import (
    ALIAS_RE,
    parse_port,
    parse_volume,
    project_from_directory,
    validate_name,
    validate_project,
    validate_seconds,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEYS = {
    "image",
    "build",
    "ports",
    "env",
    "volumes",
    "command",
    "entrypoint",
    "working_dir",
    "user",
    "extra_hosts",
    "depends_on",
    "health",
}
DEFAULT_READY_TIMEOUT = 60.0
log = logging.getLogger(__name__)
ServiceProgress = Callable[[str, str], None]  # (service, line): what `up` reports as it goes


@dataclass(frozen=True)
class ServiceDef:
    """One `[services.NAME]` table, validated."""

    service: Service
    build: Path | None = None
    depends_on: tuple[str, ...] = ()
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    dockerfile: str = "Dockerfile"  # inside `build`, relative to it

    @property
    def name(self) -> str:
        return self.service.name


@dataclass(frozen=True)
class Stack:
    """The services of one file, in an order where dependencies come first."""

    path: Path
    services: tuple[ServiceDef, ...]
    project: str = ""

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


@dataclass
class ServiceOutcome:
    """What `up` did to one service."""

    name: str
    started: bool = False
    error: str = ""
    logs: str = ""
    endpoints: list[str] = field(default_factory=list)


def document(stack: Stack, show_environment: bool = False) -> dict[str, Any]:
    """The project as `docker compose config` shows one: normalised, every default filled in.

    Environment values are secrets, so they are masked unless `show_environment`.
    """
    from .errors import SECRET_MASK

    services: dict[str, Any] = {}
    named: set[str] = set()
    for definition in stack.services:
        spec = definition.service.spec
        entry: dict[str, Any] = {"container_name": spec.name, "image": spec.image}
        if definition.build is not None:
            entry["build"] = {"context": str(definition.build), "dockerfile": definition.dockerfile}
        if spec.command is not None:
            entry["command"] = list(spec.command)
        if spec.entrypoint is not None:
            entry["entrypoint"] = list(spec.entrypoint)
        if definition.depends_on:
            entry["depends_on"] = {name: {"condition": "service_healthy"} for name in definition.depends_on}
        if spec.environment:
            entry["environment"] = {k: (v if show_environment else SECRET_MASK) for k, v in spec.environment.items()}
        if spec.extra_hosts:
            entry["extra_hosts"] = [f"{host}={address}" for host, address in spec.extra_hosts.items()]
        if spec.ports:
            entry["ports"] = [
                {"target": p.container_port, "protocol": p.protocol}
                | ({"published": str(p.host_port)} if p.host_port else {})
                | ({"host_ip": p.host_ip} if p.host_ip else {})
                for p in spec.ports
            ]
        if spec.user:
            entry["user"] = spec.user
        if spec.volumes:
            entry["volumes"] = [
                {
                    "type": "volume" if v.is_named else "bind",
                    "source": v.source,
                    "target": v.target,
                    "read_only": v.read_only,
                }
                for v in spec.volumes
            ]
            named |= {v.source for v in spec.volumes if v.is_named}
        if spec.working_dir:
            entry["working_dir"] = spec.working_dir
        if spec.health is not None:
            entry["healthcheck"] = {
                "test": ["CMD", *spec.health.command],
                "interval": f"{spec.health.interval:g}s",
                "timeout": f"{spec.health.timeout:g}s",
                "retries": spec.health.retries,
                "start_period": f"{spec.health.start_period:g}s",
            }
        if spec.network:
            entry["networks"] = {"default": {"aliases": list(spec.aliases)} if spec.aliases else None}
        services[definition.name] = entry
    out: dict[str, Any] = {"name": stack.project, "services": services}
    if any(d.service.spec.network for d in stack.services):
        out["networks"] = {"default": {"name": default_network(stack.project)}}
    if named:
        out["volumes"] = {name: {"name": name} for name in sorted(named)}
    return out


class StackError(OblakoBackendError):
    """`up` failed; `outcomes` says which services failed and what they logged."""

    def __init__(self, message: str, outcomes: list[ServiceOutcome]):
        super().__init__(message)
        self.outcomes = outcomes


def _where(path: Path, name: str, key: str) -> str:
    return f"{path}: [services.{name}] {key}"


PROJECT_VAR = "OBLAKO_PROJECT"


def project_name(path: Path, explicit: str | None = None) -> str:
    """The project: `explicit` (-p), else $OBLAKO_PROJECT, else the file's directory name,
    normalised as Compose normalises it. Its containers are named `<project>-<service>`."""
    for given, source in ((explicit, "-p/--project"), (os.environ.get(PROJECT_VAR, "").strip() or None, PROJECT_VAR)):
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
            f"-p NAME or {PROJECT_VAR}"
        )
    return derived


def load(path: str | Path, backend: Backend | None = None, project: str | None = None) -> Stack:
    """Read and validate a services file; every mistake names the file, service and key."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        from .compose import load_compose

        return load_compose(path, backend, project)
    project = project_name(path, project)
    text = read_text(path, "services file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # the parser recurses into nested arrays and inline tables
        raise too_deep(path) from None
    check_depth(path, data)
    extra = set(data) - {"services"}
    if extra:
        raise ConfigurationError(f"{path}: unknown top-level keys {sorted(extra)}; services go in [services.NAME]")
    tables = data.get("services")
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(f"{path}: no services; describe each in a [services.NAME] table")
    defs = [_service(path, name, table, backend, project) for name, table in tables.items()]
    return assemble(path, defs, project)


def assemble(path: Path, defs: list[ServiceDef], project: str) -> Stack:
    """The checks every file format shares: dependencies exist and form no cycle, and no two
    services claim one host port."""
    known = {d.name for d in defs}
    for d in defs:
        unknown = [n for n in d.depends_on if n not in known]
        if unknown:
            raise ConfigurationError(f"{_where(path, d.name, 'depends_on')}: no service named {unknown[0]!r}")
    _one_owner_per_host_port(path, defs)
    _one_service_per_container_name(path, defs)
    for d in defs:  # one network per project, where each service answers to its name
        aliases = (d.name,) if ALIAS_RE.fullmatch(d.name) else ()
        d.service.spec = dataclasses.replace(d.service.spec, network=default_network(project), aliases=aliases)
    stack = Stack(path, tuple(defs), project)
    if sum(len(w) for w in stack.waves()) != len(defs):
        raise ConfigurationError(f"{path}: depends_on forms a cycle; a service cannot wait for itself")
    return stack


def default_network(project: str) -> str:
    """The network a project's services share, named as Compose names it."""
    return f"{project}_default"


def _one_owner_per_host_port(path: Path, defs: list[ServiceDef]) -> None:
    """Two services cannot both listen on one fixed host port: say so now, not halfway through `up`."""
    owners: dict[tuple[int, str], str] = {}
    for d in defs:
        for port in d.service.spec.ports:
            if port.host_port is None:
                continue
            key = (port.host_port, port.protocol)
            if key in owners:
                raise ConfigurationError(
                    f"{_where(path, d.name, 'ports')}: host port {port.host_port}/{port.protocol} is also "
                    f"claimed by [services.{owners[key]}]; give one of them another host port"
                )
            owners[key] = d.name


def _one_service_per_container_name(path: Path, defs: list[ServiceDef]) -> None:
    """Two services with one container_name would each replace the other: only one would run."""
    owners: dict[str, str] = {}
    for d in defs:
        taken = owners.setdefault(d.service.container_name, d.name)
        if taken != d.name:
            raise ConfigurationError(
                f"{_where(path, d.name, 'container_name')}: {d.service.container_name!r} is also the container name "
                f"of [services.{taken}]; give each service its own"
            )


def _service(path: Path, name: str, table: Any, backend: Backend | None, project: str) -> ServiceDef:
    def where(key: str) -> str:
        return _where(path, name, key)

    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: services.{name} must be a table")
    try:
        validate_name(name, "service name")
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{path}: [services.{name}]: {exc}") from None
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigurationError(f"{where(sorted(unknown)[0])}: unknown key; known keys are {', '.join(sorted(KEYS))}")
    if "image" not in table:
        raise ConfigurationError(f"{where('image')}: required (the image to run, or to tag a build with)")
    build = None
    if "build" in table:
        build = (path.parent / str(table["build"])).resolve()
        if not (build / "Dockerfile").is_file():
            raise ConfigurationError(f"{where('build')}: {build} has no Dockerfile")
    try:
        ports = dict(parse_port(str(p), "ports") for p in _list(where("ports"), table.get("ports", [])))
        volumes = dict(parse_volume(str(v), "volumes") for v in _list(where("volumes"), table.get("volumes", [])))
        service = Service(
            name,
            table["image"],
            container_name=f"{project}-{name}",
            project=project,
            backend=backend,
            ports=ports,
            environment=table.get("env", {}),
            volumes=volumes,
            command=table.get("command"),
            entrypoint=table.get("entrypoint"),
            working_dir=table.get("working_dir"),
            user=table.get("user"),
            extra_hosts=table.get("extra_hosts", {}),
        )
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{path}: [services.{name}]: {exc}") from None
    depends = tuple(str(n) for n in _list(where("depends_on"), table.get("depends_on", [])))
    check, timeout = _health(where("health"), table.get("health"), service)
    if check is not None:
        service.health_check = check
    return ServiceDef(service, build, depends, timeout)


def _list(where: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigurationError(f'{where}: expected a list, e.g. ["8080:80"]')
    return value


def _health(where: str, value: Any, service: Service) -> tuple[HealthCheck | None, float]:
    if value is None:
        return None, DEFAULT_READY_TIMEOUT
    if not isinstance(value, dict):
        raise ConfigurationError(
            f'{where}: expected a table, e.g. {{ http = "/" }}, {{ tcp = 80 }} or {{ log = "ready" }}'
        )
    kinds = [k for k in ("http", "tcp", "log") if k in value]
    unknown = set(value) - {"http", "tcp", "log", "port", "timeout"}
    if len(kinds) != 1 or unknown:
        raise ConfigurationError(f"{where}: give exactly one of http, tcp or log (plus port and timeout)")
    timeout = value.get("timeout", DEFAULT_READY_TIMEOUT)
    try:
        timeout = validate_seconds("timeout", timeout, allow_zero=False)
    except InvalidSpecError:
        raise ConfigurationError(f"{where}: timeout must be a finite, positive number of seconds") from None
    published = [p.container_port for p in service.spec.ports if p.protocol == "tcp"]
    if kinds == ["log"]:
        return log_check(str(value["log"])), float(timeout)
    port = value.get("port", value["tcp"] if kinds == ["tcp"] else (published[0] if published else None))
    if not isinstance(port, int) or port not in published:
        raise ConfigurationError(f"{where}: the port to check must be one of the published tcp ports {published}")
    if kinds == ["tcp"]:
        return tcp_check(port), float(timeout)
    return http_check(port, str(value["http"])), float(timeout)


class Interrupted(StackError):
    """`up` was interrupted (Ctrl-C or SIGTERM); what it had started was stopped again."""


INTERRUPT_WAIT = 4.0  # seconds an interrupted `up` waits for starts in flight to notice
INTERRUPT_GRACE = 3.0  # seconds each service then gets to stop: the whole cleanup stays under 10 s


def up(
    stack: Stack,
    progress: ServiceProgress | None = None,
    jobs: int | None = None,
    cancel: threading.Event | None = None,
    hurry: threading.Event | None = None,
    prepared: threading.Event | None = None,
) -> list[ServiceOutcome]:
    """Start every service, dependencies first, independent ones together (at most `jobs` at
    once, default OBLAKO_JOBS); wait until ready.

    On any failure, everything this file describes is stopped again and `StackError` says
    which services failed, with their last log lines, and names any it could not stop.
    Setting `cancel` (a first Ctrl-C) ends the waiting, stops what this `up` started and
    raises `Interrupted`; setting `hurry` too (a second Ctrl-C) removes them at once.
    `prepared` is set once the volumes and the network exist, before any service starts:
    until then nothing needs stopping, so an interrupt may end `up` at once (the CLI does).
    """
    limit = jobs or config.jobs()  # a bad OBLAKO_JOBS is refused before the runtime is touched
    shown: ServiceProgress = progress or (lambda service, line: None)

    def say(service: str, line: str) -> None:
        log.debug("%s: %s", service, line)
        shown(service, line)

    _create_volumes(stack)
    _create_network(stack)  # may wait for another process's lock on the network
    _health_on_the_host_where_needed(stack)
    if prepared is not None:
        prepared.set()
    cancel = cancel or threading.Event()
    hurry = hurry or threading.Event()
    outcomes = {d.name: ServiceOutcome(d.name) for d in stack.services}
    touched: list[ServiceDef] = []  # services whose start this `up` began: only these are undone
    failed = threading.Event()

    def unless_cancelled(check: HealthCheck) -> HealthCheck:
        def checked(service: Service, info: ContainerInfo) -> bool:
            if cancel.is_set():
                raise _Cancelled
            return check(service, info)

        return checked

    def start(definition: ServiceDef) -> None:
        outcome = outcomes[definition.name]
        svc = definition.service
        try:
            if cancel.is_set():
                return
            if definition.build is not None:
                say(svc.name, f"building {svc.spec.image} from {definition.build}")
                svc.backend.build_image(
                    svc.spec.image, str(definition.build), lambda s: say(svc.name, s), definition.dockerfile
                )
            else:
                svc.backend.ensure_image(svc.spec.image, progress=lambda s: say(svc.name, s))
            if cancel.is_set():
                return
            touched.append(definition)
            svc.start()
            outcome.started = True
            say(svc.name, "started; waiting until ready")
            svc.wait_ready(
                timeout=definition.ready_timeout,
                health_check=unless_cancelled(svc.health_check or default_check),
            )
            info = svc.info()
            for p in svc.spec.ports:
                found = info.endpoint(p.container_port, p.protocol) if info else None
                if found:
                    outcome.endpoints.append(f"{found[0]}:{found[1]} -> {p.container_port}/{p.protocol}")
            log.info("%s is ready (%s)", svc.name, svc.container_name)
            say(svc.name, "ready")
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

    for wave in stack.waves():
        _join(_workers(wave, start, limit), cancel, hurry)
        if cancel.is_set() or failed.is_set():
            break
    if cancel.is_set():
        left = _undo(touched, hurry)
        stopped = [d.name for d in touched if d.name not in left]
        what = (
            f"stopped {', '.join(stopped)}" if stopped else "nothing was stopped" if touched else "nothing had started"
        )
        raise Interrupted(f"interrupted; {what}{_still_there(left)}", [])
    if failed.is_set():
        left = {name: why.splitlines()[0] for name, why in down(stack).items()}
        bad = [o for o in outcomes.values() if o.error]
        names = ", ".join(o.name for o in bad)
        if left:
            raise StackError(f"{names} failed to start{_still_there(left)}", bad)
        raise StackError(f"{names} failed to start; everything was stopped again", bad)
    return list(outcomes.values())


def _workers(wave: list[ServiceDef], start: Callable[[ServiceDef], None], limit: int) -> list[threading.Thread]:
    """At most `limit` threads, started, that take the wave's services in turn until none is left.
    Daemon threads: a pull still running after an interrupt must not keep the process alive."""
    pending = iter(list(wave))
    taking = threading.Lock()

    def work() -> None:
        while True:
            with taking:
                definition = next(pending, None)
            if definition is None:
                return
            start(definition)

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


def _undo(started: list[ServiceDef], hurry: threading.Event) -> dict[str, str]:
    """Stop what an interrupted `up` started; {service: why not} for what could not be.

    Graceful (a short stop) unless `hurry`; a second Ctrl-C while graceful stops are under way
    sets `hurry` and removes the services still being stopped at once.
    """
    left: dict[str, str] = {}
    done: set[str] = set()

    def undo(definition: ServiceDef, force: bool) -> None:
        svc = definition.service
        try:
            if force:
                svc.backend.remove(svc.container_name, project=svc.project)
            else:
                svc.backend.stop(
                    svc.container_name, timeout=min(svc.stop_timeout, INTERRUPT_GRACE), project=svc.project
                )
        except OblakoBackendError as exc:
            left[definition.name] = str(exc).splitlines()[0]
            return
        left.pop(definition.name, None)
        done.add(definition.name)

    def launch(force: bool) -> list[threading.Thread]:
        pending = [d for d in started if d.name not in done]
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
    for definition in started:  # still being stopped or removed when we stopped waiting
        if definition.name not in done and definition.name not in left:
            left[definition.name] = "the runtime had not answered when the command ended"
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


def named_volumes(stack: Stack) -> list[str]:
    """The named volumes the project's services mount, in a stable order."""
    return sorted({v.source for d in stack.services for v in d.service.spec.volumes if v.is_named})


def _create_volumes(stack: Stack) -> None:
    """Make the project's named volumes itself, labelled, so `down -v` can tell them from
    volumes that existed before (those are used as they are and never removed)."""
    backend = stack.services[0].service.backend
    if "remove_volumes" not in backend.capabilities:
        return
    for name in named_volumes(stack):
        try:
            backend.create_volume(name, stack.project)
        except Interrupted:
            raise
        except OblakoBackendError as exc:
            raise StackError(f"can't create volume {name!r}: {exc}", []) from exc


def _health_on_the_host_where_needed(stack: Stack) -> None:
    """A backend that cannot run health checks in the container gets them checked from the
    host instead (the service's published port, or a check the file gives); one line says so."""
    backend = stack.services[0].service.backend
    if "health" in backend.capabilities:
        return
    for d in stack.services:
        if d.service.spec.health is not None:
            instead = "the check given" if d.service.health_check else "its first published port, from the host"
            warnings.warn(
                f"{d.name}: {backend.name} cannot run health checks inside the container; "
                f"waiting for {instead} instead",
                stacklevel=3,
            )
            d.service.spec = dataclasses.replace(d.service.spec, health=None)


def _create_network(stack: Stack) -> None:
    """The project's network, where the backend needs one for service names; on a backend
    that cannot resolve them, the services run without, and the user is told once."""
    backend = stack.services[0].service.backend
    if "service_names" not in backend.capabilities:
        warnings.warn(
            f"service names do not resolve on {backend.name}: services reach each other through "
            "their published ports on the host (host.docker.internal)",
            stacklevel=3,
        )
        for d in stack.services:
            d.service.spec = dataclasses.replace(d.service.spec, network=None, aliases=())
        return
    name, containers = default_network(stack.project), len(stack.services)
    try:
        created = backend.create_network(name, stack.project, containers=containers)
        room = backend.network_capacity(name)
    except Interrupted:
        raise  # Ctrl-C while waiting for another `up`'s lock on the network: not a failure of it
    except OblakoBackendError as exc:
        raise StackError(f"can't create network {name!r}: {exc}", []) from exc
    if room is not None:
        _refuse_what_the_network_cannot_hold(stack, name, room, created)


def _refuse_what_the_network_cannot_hold(stack: Stack, name: str, room: NetworkCapacity, created: bool) -> None:
    """Before any service starts: a project with more containers than its network has addresses
    for would start some and fail the rest (each start waiting out its deadline)."""
    ours = {d.service.container_name for d in stack.services}
    others = [c for c in room.attached if c not in ours]
    containers = len(stack.services)
    if containers + len(others) <= room.addresses:
        return
    backend = stack.services[0].service.backend
    named = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    held = f", {len(others)} of them held by other containers ({named})" if others else ""
    prefix = next(p for p in range(30, 0, -1) if 2 ** (32 - p) - 3 >= containers + len(others))
    if created:
        with contextlib.suppress(OblakoBackendError):
            backend.remove_network(name, stack.project)
        whence = (
            f"{backend.name} made it from its default address pools, which give networks this small: "
            "give the engine pools of larger networks (Docker: `default-address-pools` in daemon.json), or "
        )
    else:
        whence = "it existed before this `up`, and is used as it is: remove it, or "
    raise StackError(
        f"network {name!r} ({room.subnet}) has addresses for {room.addresses} containers"
        f"{held}, and project {stack.project!r} has {containers} services; nothing was "
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


def remove_volumes(stack: Stack) -> VolumesRemoved:
    """After `down`: remove the named volumes this project created, and only those."""
    backend = stack.services[0].service.backend
    done = VolumesRemoved()
    for name in named_volumes(stack):
        try:
            if backend.remove_volume(name, stack.project):
                done.removed.append(name)
        except NotOwnedError:
            done.not_ours.append(name)
        except OblakoBackendError as exc:
            done.failed[name] = str(exc).splitlines()[0]
    return done


def down(stack: Stack, jobs: int | None = None) -> dict[str, str]:
    """Stop (and remove) every service of the file, dependents first, at most `jobs` at once
    (default: OBLAKO_JOBS), then the project's network if this layer made it; keep named volumes.
    Returns {service: why} for each one that could not be stopped."""
    errors: dict[str, str] = {}
    limit = jobs or config.jobs()
    for wave in reversed(stack.waves()):
        with ThreadPoolExecutor(max_workers=max(1, min(limit, len(wave)))) as pool:
            for definition, error in zip(wave, pool.map(_stop, wave), strict=True):
                if error:
                    errors[definition.name] = error
    if not errors and stack.services[0].service.spec.network:
        try:
            stack.services[0].service.backend.remove_network(default_network(stack.project), stack.project)
        except NotOwnedError:
            pass  # there before the project: used, never removed
        except OblakoBackendError as exc:
            errors["network"] = str(exc)
    return errors


def _stop(definition: ServiceDef) -> str:
    try:
        definition.service.stop()
    except OblakoBackendError as exc:
        return str(exc)
    return ""
