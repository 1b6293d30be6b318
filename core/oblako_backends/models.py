"""The values backends return: normalised so callers never see a runtime's own vocabulary."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType, TracebackType

from .labels import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PROJECT_LABEL,
    SERVICE_LABEL,
    SPEC_HASH_LABEL,
    START_LABEL,
    START_LATER,
    owner_claims,
)


class State(str, Enum):
    """A container's state, the same three words on every backend.

    Values compare equal to the plain strings oblako uses (``State.RUNNING == "running"``).
    """

    RUNNING = "running"
    STOPPED = "stopped"
    ABSENT = "absent"

    def __str__(self) -> str:
        return self.value


RUNNING, STOPPED, ABSENT = State.RUNNING, State.STOPPED, State.ABSENT


class Health(str, Enum):
    """What a container's own health check (`ContainerSpec.health`) says, on every backend."""

    STARTING = "starting"  # no verdict yet
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # `retries` checks in a row failed

    def __str__(self) -> str:
        return self.value


_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # "every address": connect through loopback

# The optional features a backend may declare in `Probe.capabilities`. Conformance tests for
# an optional feature run only where the backend declares it.
CAPABILITIES: Mapping[str, str] = MappingProxyType(
    {
        "pull": "pulls images from a registry",
        "build": "builds images from a Dockerfile context",
        "build_options": "build: target, args, cache_from and labels reach the builder (BuildSpec)",
        "build_secrets": "build: secrets for RUN --mount=type=secret (BuildSpec.secrets)",
        "follow_logs": "streams log lines as they are written",
        "named_volumes": "named volumes keep their data across stop and start",
        "bind_mounts": "mounts absolute host paths",
        "user": "runs the container as a given user",
        "extra_hosts": "adds host-name entries to the container",
        "docker_api": "docker_client() returns a Docker Engine API client",
        "remove_volumes": "creates named volumes with labels and removes them again (down -v)",
        "service_names": "a project's containers reach each other by service name (ContainerSpec.aliases)",
        "network_by_address": "joins a network made by Backend.create_network (ContainerSpec.network, one), where "
        "containers reach each other by address only: no name resolves (without service_names)",
        "health": "runs ContainerSpec.health inside the container and reports ContainerInfo.health",
        "exec": "runs a command in a running container (Backend.exec) and passes its exit code through",
        "exit_code": "reports how a container that ended exited (ContainerInfo.exit_code), as a one-off needs",
        "create": "creates a container without starting it, and starts it later (up --no-start, start)",
        "log_times": "logs since and until a moment, and with the moment each line was written (logs -t)",
        "top": "lists the processes running in a container (Backend.top), as `docker top` does",
        # Compose's options: each names the ContainerSpec fields it applies (options.FIELD_CAPABILITY).
        "expose": "expose: ports other containers reach without publishing them",
        "tmpfs": "tmpfs: memory-backed mounts",
        "files": "files: secrets and configs put in the container before it starts",
        "init": "init: an init process as PID 1",
        "tty": "stdin_open, tty",
        "stop_signal": "stop_signal: the signal that asks the container to stop",
        "stop_grace_period": "stop_grace_period: seconds before a stopping container is killed",
        "restart": "restart: the runtime restarts the container by its policy",
        "hostname": "hostname, domainname",
        "dns": "dns, dns_search",
        "security": "cap_add, cap_drop, privileged, security_opt",
        "read_only": "read_only: a read-only root filesystem",
        "resources": "mem_limit, mem_reservation, cpus, shm_size: memory and CPU",
        "process_limits": "pids_limit, ulimits: limits on the container's processes",
        "sysctls": "sysctls: namespaced kernel parameters",
        "devices": "devices: host devices in the container",
        "platform": "platform: run the image built for os/arch",
        "selinux": "volumes' :z/:Z: the runtime relabels a mount's source for SELinux (VolumeSpec.selinux)",
        # Networks (ContainerSpec.networks, network_mode) and what `up` makes them with.
        "networks": "joins several networks (ContainerSpec.networks), each its own: containers reach each other "
        "only on a network they share, by the aliases given there (with service_names; else by address)",
        "ipv4_address": "a fixed IPv4 address on a network made with a subnet (NetworkAttachment.ipv4_address)",
        "network_options": "makes networks with a driver, internal (no way out) and IPAM subnets (NetworkOptions)",
        "network_mode_host": "network_mode: host, the host's own network namespace",
        "network_mode_none": "network_mode: none, loopback only",
        "network_mode_bridge": "network_mode: bridge, the runtime's default network, without aliases",
        "network_mode_container": "network_mode: container:NAME (Compose's service:NAME), another container's "
        "network namespace",
    }
)


def epoch_seconds(timestamp: str) -> float:
    """A runtime's RFC 3339 timestamp (Docker's nanoseconds and Kubernetes' "Z" both read) as
    seconds since the epoch; infinity when it cannot be read, so it never counts as earliest."""
    import datetime
    import math
    import re

    text = re.sub(r"(\.\d{6})\d+", r"\1", timestamp.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return math.inf
    return moment.timestamp() if moment.tzinfo is not None else math.inf


def seconds_since(timestamp: str) -> float:
    """Seconds since a runtime's timestamp; infinity when it cannot be read, so an unknown age
    never counts as recent."""
    import math
    import time

    moment = epoch_seconds(timestamp)
    return math.inf if moment == math.inf else time.time() - moment


@dataclass(frozen=True)
class PublishedPort:
    """Where a container port is reachable from the host."""

    container_port: int
    protocol: str
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class ContainerInfo:
    """What a backend knows about one container it can see."""

    name: str
    state: State
    image: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ports: tuple[PublishedPort, ...] = ()
    backend: str = ""
    # Created moments ago and not started yet: a start is in progress (maybe in another
    # process), so a concurrent `Service.start` waits for it instead of replacing it.
    starting: bool = False
    # The verdict of the container's own health check; None when it has none (or the backend
    # cannot run one: see the capability "health").
    health: Health | None = None
    # Where the engine's published ports are when they are not on this machine: the host of a
    # tcp:// or ssh:// engine, or the host a CI job container reaches its mounted engine at.
    engine_host: str = ""
    # How its main process ended, once it has (state stopped); None while it runs or when the
    # backend cannot tell. 0 is what `depends_on: service_completed_successfully` waits for.
    exit_code: int | None = None
    # The container's own IPv4 address, set only where this machine routes to it (an engine
    # on this machine whose bridge is one of its interfaces). Readiness connects there: past
    # the engine's port proxy, so an accepted connection means the service itself listens.
    address: str = ""
    # When it was created (seconds since the epoch; None when the backend cannot tell), and the
    # command its main process runs, as one line: what `ps` of a project shows, as Compose's.
    created: float | None = None
    command: str = ""
    # The runtime's own ID of this container, where it has one (Docker Engine API): the one
    # container that was seen, whatever is named alike later. "" where the runtime has none.
    id: str = ""

    @property
    def owned(self) -> bool:
        """True when this layer created the container (it carries our ownership label)."""
        return self.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE

    @property
    def adoptable(self) -> bool:
        """Not ours, and no other tool's either: no owner's labels at all (see labels.OWNER_LABELS)."""
        return not owner_claims(self.labels)

    @property
    def service(self) -> str | None:
        """The service name recorded at creation, if ours."""
        return self.labels.get(SERVICE_LABEL)

    @property
    def project(self) -> str | None:
        """The project (services file) it was started for, if any."""
        return self.labels.get(PROJECT_LABEL)

    @property
    def waiting(self) -> bool:
        """Created to be started later (`up --no-start`) and not running: `up` and `start` start it."""
        return self.labels.get(START_LABEL) == START_LATER and self.state != State.RUNNING and self.exit_code is None

    @property
    def spec_hash(self) -> str | None:
        """The fingerprint of the spec it was created from, if ours."""
        return self.labels.get(SPEC_HASH_LABEL)

    def endpoint(self, container_port: int, protocol: str = "tcp") -> tuple[str, int] | None:
        """(host, port) to connect to from this machine for a container port, if published.

        OBLAKO_HOST_OVERRIDE wins. Otherwise a loopback or wildcard binding is preferred over
        others (such as the bridge gateway a port is also published on for containers that
        reach the host), and means the engine's host: 127.0.0.1 for an engine on this machine,
        `engine_host` for one elsewhere.
        """
        from .config import host_override

        matching = [p for p in self.ports if p.container_port == container_port and p.protocol == protocol]
        matching.sort(key=lambda p: not (p.host_ip in _WILDCARDS or p.host_ip.startswith("127.")))
        for port in matching:
            local = port.host_ip in _WILDCARDS or port.host_ip.startswith("127.")
            host = host_override() or (self.engine_host or "127.0.0.1" if local else port.host_ip)
            return host, port.host_port
        return None


@dataclass(frozen=True)
class Processes:
    """The processes running in one container, as `ps` in it would list them: a row per
    process, a value per title (the runtime's own titles, e.g. UID PID PPID C STIME TTY TIME CMD)."""

    titles: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class NetworkCapacity:
    """How many containers a network can hold: `addresses` for containers in its IPv4 `subnet`
    (less the network's own, its broadcast and its gateway), and the names of the containers
    `attached` to it now, which hold some of them."""

    subnet: str
    addresses: int
    attached: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    """The answer to "can this backend work right now, and with what?"."""

    backend: str
    reachable: bool
    endpoint: str = ""
    endpoint_source: str = ""
    engine: str = ""
    version: str = ""
    capabilities: frozenset[str] = frozenset()
    error: str = ""
    hint: str = ""
    details: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (used by `doctor --json`)."""
        return {
            "backend": self.backend,
            "reachable": self.reachable,
            "endpoint": self.endpoint,
            "endpoint_source": self.endpoint_source,
            "engine": self.engine,
            "version": self.version,
            "capabilities": sorted(self.capabilities),
            "error": self.error,
            "hint": self.hint,
            "details": dict(self.details),
        }


class LogStream(Iterator[str]):
    """Log lines as they are written, until the container stops or the caller closes it.

    Backends hand over any iterable of text chunks plus a `close` callable that interrupts a
    blocked read (closing a socket, terminating a subprocess). Chunks are re-cut into lines
    without their newline. Safe to close from another thread; closing twice is harmless.
    """

    def __init__(self, chunks: Iterable[str | bytes], close: Callable[[], None] | None = None):
        self._chunks = iter(chunks)
        self._close = close
        self._closed = threading.Event()
        self._pending: list[str] = []
        self._partial = ""

    def __iter__(self) -> LogStream:
        return self

    def __next__(self) -> str:
        while not self._pending:
            if self._closed.is_set():
                raise StopIteration
            try:
                chunk = next(self._chunks)
            except StopIteration:
                if self._partial:
                    line, self._partial = self._partial, ""
                    return line
                raise
            except Exception:
                if self._closed.is_set():  # reading from a stream we closed under it
                    raise StopIteration from None
                raise
            text = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
            *lines, self._partial = (self._partial + text).split("\n")
            self._pending.extend(line.rstrip("\r") for line in lines)
        return self._pending.pop(0)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Stop following; a blocked `next()` in another thread ends with StopIteration."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._close is not None:
            self._close()

    def __enter__(self) -> LogStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
