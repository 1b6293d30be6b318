"""`Service`: the lifecycle oblako's emulated services need, on top of any backend.

start is idempotent and self-healing (a stopped leftover or a container made from an older
spec is recreated), status never raises for an unreachable runtime, and wait_ready explains
a failure with the service's own last log lines.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from . import config
from .backend import Backend, refuse_other_project
from .errors import NameInUseError, NotOwnedError, OblakoBackendError, PortInUseError, ServiceNotReadyError
from .labels import owner_claims
from .models import ABSENT, RUNNING, ContainerInfo, Health, State
from .spec import ContainerSpec, HealthCommand, HostBinding, validate_name, validate_project, validate_seconds

# A health check gets the service and the container's info from the same poll, so a
# readiness loop costs one inspect per round.
HealthCheck = Callable[["Service", ContainerInfo], bool]


@dataclass(frozen=True)
class ServiceStatus:
    """A service's state, or why it could not be read (never an exception)."""

    service: str
    container: str
    state: State | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        return str(self.state) if self.state is not None else f"error: {self.error}"


class Service:
    """One emulated service backed by one container named ``oblako-<name>`` by default."""

    def __init__(
        self,
        name: str,
        image: str,
        *,
        backend: Backend | None = None,
        container_name: str | None = None,
        health_check: HealthCheck | None = None,
        stop_timeout: float = 10.0,
        adopt: bool = False,
        project: str | None = None,
        ports: Mapping[str, HostBinding] | None = None,
        environment: Mapping[str, str] | Sequence[str] | None = None,
        volumes: Mapping[str, Any] | None = None,
        extra_hosts: Mapping[str, str] | None = None,
        command: str | Sequence[str] | None = None,
        entrypoint: str | Sequence[str] | None = None,
        working_dir: str | None = None,
        user: str | int | None = None,
        labels: Mapping[str, str] | None = None,
        network: str | None = None,
        aliases: Sequence[str] = (),
        health: HealthCommand | Mapping[str, Any] | None = None,
    ):
        """The container's fields are ContainerSpec's, named here so a type checker catches a
        misspelt one. `adopt`: `start` may replace a same-named container that no tool claims
        (no owner's labels) when it runs the same image repository, as oblako's own containers
        from before this layer do; its named volumes, and their data, stay."""
        self.name = validate_name(name, "service name")
        self.adopt = adopt
        self.project = None if project is None else validate_project(project)
        self.container_name = container_name or f"oblako-{name}"
        given: dict[str, Any] = {
            "ports": ports,
            "environment": environment,
            "volumes": volumes,
            "extra_hosts": extra_hosts,
            "command": command,
            "entrypoint": entrypoint,
            "working_dir": working_dir,
            "user": user,
            "labels": labels,
            "network": network,
            "aliases": aliases,
            "health": health,
        }
        fields = {k: v for k, v in given.items() if v is not None}
        self.spec = ContainerSpec(name=self.container_name, image=image, **fields)
        self.health_check = health_check
        self.stop_timeout = validate_seconds("stop_timeout", stop_timeout)
        self._backend = backend

    def __repr__(self) -> str:
        return f"<Service {self.name!r} container={self.container_name!r}>"

    @property
    def backend(self) -> Backend:
        """The backend in use: the one given, else the selected one (loaded on first use)."""
        if self._backend is None:
            from .plugins import get_backend

            self._backend = get_backend()
        return self._backend

    def start(self) -> bool:
        """Make the service run its current spec. Returns False when it already did.

        Safe to call from many threads or processes at once: the runtime's unique container
        name decides who creates it; the others wait for that container and return False.
        """
        deadline = time.monotonic() + config.call_timeout()  # a concurrent start's own budget
        lost_a_race = False
        replaced: ContainerInfo | None = None
        while True:
            info = self.backend.inspect(self.container_name)
            if info is None:
                try:
                    self.backend.run(self.spec, service=self.name, project=self.project)
                    return True
                except NameInUseError:
                    if time.monotonic() > deadline:
                        raise
                    lost_a_race = True  # another start created it first: look again, and wait for it
                    continue
                except OblakoBackendError as exc:
                    if replaced is None:
                        raise
                    raise OblakoBackendError(f"{exc}\n{self._what_became_of(replaced)}") from exc
            if not info.owned and self.adoptable(info):
                self._check_before_replacing(info)
                self.backend.stop(self.container_name, timeout=self.stop_timeout, adopt=True)  # volumes stay
                replaced = info
                continue
            if not info.owned:
                raise NotOwnedError(
                    f"cannot start service {self.name!r}: a container named "
                    f"{self.container_name!r} exists that oblako-backends did not create"
                    f"{self.why_not_adopted(info)}. Remove it with your runtime's CLI, or give the "
                    "service another container_name."
                )
            refuse_other_project(info, self.project)
            current = info.spec_hash == self.spec.fingerprint()
            if current and info.state == RUNNING:
                return False
            if current and info.waiting:  # created by `up --no-start`: started now, as Compose's up does
                self.backend.start(self.container_name, project=self.project)
                return True
            if current and (info.starting or lost_a_race) and time.monotonic() < deadline:
                time.sleep(0.1)  # another start is between create and start: poll until it runs
                continue
            self.backend.remove(self.container_name, project=self.project)  # a leftover, an older spec, an orphan

    def _check_before_replacing(self, old: ContainerInfo) -> None:
        """What adopting needs, checked while the old container still runs: the image is here
        (or pulled now), and each fixed host port is one the old container holds or one free
        on this machine's loopback. A failure leaves the old container as it was."""
        self.backend.ensure_image(self.spec.image)
        held = {(p.host_port, p.protocol) for p in old.ports}
        for port in self.spec.ports:
            if port.host_port is None or (port.host_port, port.protocol) in held:
                continue
            kind = socket.SOCK_STREAM if port.protocol == "tcp" else socket.SOCK_DGRAM
            with socket.socket(socket.AF_INET, kind) as probe:
                try:
                    probe.bind((port.host_ip or "127.0.0.1", port.host_port))
                except OSError:
                    raise PortInUseError(
                        f"can't adopt {self.container_name!r}: host port {port.host_port}/{port.protocol} is "
                        "already in use by something else; the old container was left running as it was. "
                        "Free the port, or publish on another one, and retry",
                        port.host_port,
                    ) from None

    def _what_became_of(self, old: ContainerInfo) -> str:
        """The sentence a failed adoption ends with: the old container is gone, its data is not."""
        return (
            f"The container it was to replace ({self.container_name!r}, {old.image}) was stopped "
            f"(within its {self.stop_timeout:g} s stop timeout) and removed; its volumes, anonymous ones "
            "included, were kept. Fix the cause and start the service again to use them."
        )

    def why_not_adopted(self, info: ContainerInfo) -> str:
        """Why `info`'s container is not adopted, as the end of a sentence ("" when not adopting)."""
        if not self.adopt:
            return ""
        if not info.adoptable:
            claims = owner_claims(info.labels)
            return f", and another tool claims it ({', '.join(claims)}), so it was not adopted"
        return f", and it runs {info.image!r}, not the repository of {self.spec.image!r}, so it was not adopted"

    def adoptable(self, info: ContainerInfo) -> bool:
        """May `start` replace this container that is not ours (see `adopt`)?"""
        return self.adopt and info.adoptable and same_repository(info.image, self.spec.image)

    def stop(self, seen: ContainerInfo | None = None) -> None:
        """Stop and remove the container; named volumes keep their data. No-op when absent.

        A service of a project never stops a same-named container of another project. `seen`:
        its container as `backend.list()` gave it moments ago (see `Backend.stop`)."""
        self.backend.stop(self.container_name, timeout=self.stop_timeout, project=self.project, seen=seen)

    def __enter__(self) -> Service:
        """`with Service(...) as s:` starts it and waits until ready; leaving the block stops it,
        also when the block (or the wait) raised."""
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def status(self) -> ServiceStatus:
        """The state, or an error text when the runtime cannot be asked."""
        try:
            state = self.backend.status(self.container_name)
        except OblakoBackendError as exc:
            return ServiceStatus(self.name, self.container_name, None, str(exc))
        return ServiceStatus(self.name, self.container_name, state)

    def logs(self, tail: int = 50) -> str:
        return self.backend.logs(self.container_name, tail=tail)

    def info(self) -> ContainerInfo | None:
        return self.backend.inspect(self.container_name)

    def runs_current(self, info: ContainerInfo | None) -> bool:
        """Is `info` this service's own container, running the current spec? Then `start`
        has nothing to do, and needs no image."""
        return (
            info is not None
            and info.owned
            and info.state == RUNNING
            and info.project == self.project
            and info.spec_hash == self.spec.fingerprint()
        )

    def wait_ready(
        self, timeout: float = 60.0, health_check: HealthCheck | None = None, interval: float = 0.2
    ) -> ContainerInfo:
        """Poll the health check until it passes, and return the container's info from that
        poll; raise with the last logs if it never does.

        The check is, in order: the argument, the one given at construction, else the
        container's own health check (`spec.health`, where the backend runs it), else "the
        first published port accepts TCP connections" (or just "running" without ports).
        """
        timeout = validate_seconds("timeout", timeout)
        interval = validate_seconds("interval", interval, allow_zero=False)
        check = health_check or self.health_check or default_check
        deadline = time.monotonic() + timeout
        while True:
            info = self.info()
            if info is None or info.state != RUNNING:
                state = info.state if info is not None else ABSENT
                raise ServiceNotReadyError(
                    f"service {self.name!r} is {state} instead of becoming ready", self._last_logs()
                )
            if check(self, info):
                return info
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServiceNotReadyError(
                    f"service {self.name!r} was not ready within {timeout:g} s", self._last_logs()
                )
            time.sleep(min(interval, remaining))  # the poll interval of a readiness loop

    def endpoint(self, container_port: int, protocol: str = "tcp") -> tuple[str, int] | None:
        """(host, port) where a container port is reachable from this machine, if published."""
        info = self.info()
        return info.endpoint(container_port, protocol) if info is not None else None

    def _last_logs(self) -> str:
        try:
            return self.logs(tail=20)
        except OblakoBackendError as exc:
            return f"(logs unavailable: {exc})"


def same_repository(a: str, b: str) -> bool:
    """Do two image references name the same repository (tags and digests aside)?"""
    return _repository(a) == _repository(b)


def _repository(reference: str) -> str:
    name = reference.split("@", 1)[0]
    head, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        name = head
    for implied in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(implied):  # Docker Hub's implied parts, as Apple's CLI spells them out
            return name[len(implied) :]
    return name


def _connects(address: tuple[str, int] | None, timeout: float = 1.0, linger: float = 0.25) -> bool:
    """Does something accept a connection there and keep it open?

    Accepting is not enough: Docker's userland proxy accepts on the published port even when
    nothing listens in the container, then closes at once. So the connection must stay open
    (or send data) for `linger` seconds.
    """
    if address is None:
        return False
    try:
        with socket.create_connection(address, timeout=timeout) as conn:
            conn.settimeout(linger)
            try:
                return conn.recv(1) != b""  # data: a server that speaks first
            except TimeoutError:
                return True  # still open and quiet: a server waiting for a request
    except OSError:
        return False


def _serving(info: ContainerInfo, container_port: int) -> bool:
    """Does the service listen on `container_port`? Where this machine routes to the container
    (`info.address`), a connection there is accepted only by the service itself: no linger is
    needed. Any other answer is left to the published port's check, which is always right."""
    if info.address and not config.host_override():
        with suppress(OSError), socket.create_connection((info.address, container_port), timeout=0.5):
            return True
    return _connects(info.endpoint(container_port))


def default_check(service: Service, info: ContainerInfo) -> bool:
    """The container's own health check passes, when it has one the backend runs (unhealthy
    ends the wait); else the first published TCP port accepts a connection and keeps it open;
    no ports: running."""
    if info.health is not None:
        if info.health == Health.UNHEALTHY:
            retries = service.spec.health.retries if service.spec.health else "several"
            raise ServiceNotReadyError(
                f"service {service.name!r} is unhealthy: its health check failed {retries} times in a row",
                service._last_logs(),
            )
        return info.health == Health.HEALTHY
    tcp = [p for p in service.spec.ports if p.protocol == "tcp"]
    return _serving(info, tcp[0].container_port) if tcp else True


def tcp_check(container_port: int) -> HealthCheck:
    """Ready when the published `container_port` accepts a TCP connection."""
    return lambda service, info: _serving(info, container_port)


def http_check(container_port: int, path: str = "/", ok: Callable[[int], bool] | None = None) -> HealthCheck:
    """Ready when GET `path` on the published port answers a status `ok` accepts (< 500)."""
    accept = ok or (lambda status: status < 500)

    def check(service: Service, info: ContainerInfo) -> bool:
        address = info.endpoint(container_port)
        if address is None:
            return False
        conn = http.client.HTTPConnection(*address, timeout=2)
        try:
            conn.request("GET", path)
            return accept(conn.getresponse().status)
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    return check


def log_check(text: str, tail: int = 200) -> HealthCheck:
    """Ready when `text` appears in the last `tail` log lines."""
    return lambda service, info: text in service.logs(tail=tail)
