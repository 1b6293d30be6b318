"""`ContainerSpec`: what to run, validated once and handed unchanged to every backend.

It accepts the shapes oblako passes today (docker-py's keyword shapes) and normalises them
into small immutable values, so backends never re-parse user input and bad input fails
here, before any runtime is touched.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import options
from .config import HOSTNAME_RE
from .errors import SECRET_MASK, InvalidSpecError
from .labels import (  # re-exported: oblako_backends.spec.MANAGED_BY_LABEL and kin keep working
    BACKEND_LABEL as BACKEND_LABEL,
    MANAGED_BY_LABEL as MANAGED_BY_LABEL,
    MANAGED_BY_VALUE as MANAGED_BY_VALUE,
    OWNER_LABEL_PREFIXES as OWNER_LABEL_PREFIXES,
    PROJECT_LABEL as PROJECT_LABEL,
    RESERVED_LABEL_PREFIX as RESERVED_LABEL_PREFIX,
    SERVICE_LABEL as SERVICE_LABEL,
    SPEC_HASH_LABEL as SPEC_HASH_LABEL,
    START_LABEL as START_LABEL,
    START_LATER as START_LATER,
)

# Docker's own rule for container names; Podman and Apple's CLI accept the same set.
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
# Docker's rule for named volumes.
VOLUME_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
# An image reference: [registry[:port]/]path[:tag][@digest], path components lower case.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)"
IMAGE_RE = re.compile(
    rf"{_REGISTRY}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?", re.ASCII
)
USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?")
ALIAS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
LABEL_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,252}")
# An environment variable name: anything a runtime can pass through unchanged and no CLI can
# read as an option or a second assignment (dots stay valid: `discovery.type` is common).
ENV_KEY_RE = re.compile(r"[^\s=\x00-][^\s=\x00]*")
PROTOCOLS = ("tcp", "udp", "sctp")
HOST_GATEWAY = "host-gateway"

PROJECT_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")  # Compose's rule for project names


def validate_name(name: object, field_name: str = "name") -> str:
    """Return `name` if a runtime would accept it as a container name, else raise."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidSpecError(
            field_name,
            name,
            "a container name is 1-128 characters from [a-zA-Z0-9_.-], starting with a letter or digit",
        )
    return name


# Where a container port is published, as `ports` mappings take it: a host port (None: any
# free one), or (an address, a host port or None) when the user named the address.
HostBinding = int | None | tuple[str, int | None]


@dataclass(frozen=True)
class PortSpec:
    """One container port, published on `host_port` (None: the runtime picks a free port), at
    `host_ip` when the user named an address: that is their decision, and no setting widens
    it (None: loopback, or what OBLAKO_BIND_ADDRESS and the backend add)."""

    container_port: int
    protocol: str = "tcp"
    host_port: int | None = None
    host_ip: str | None = None

    @property
    def key(self) -> str:
        """The docker-py key, e.g. ``"8000/tcp"``."""
        return f"{self.container_port}/{self.protocol}"


@dataclass(frozen=True)
class VolumeSpec:
    """A named volume or an absolute host path, mounted at `target`."""

    source: str
    target: str
    read_only: bool = False
    # SELinux relabelling, as `:z` (shared with other containers) or `:Z` (this one only) asks:
    # the runtime labels the source so a confined container may use it. None: left as it is.
    selinux: str | None = None

    @property
    def is_named(self) -> bool:
        """True for a named volume (kept by the runtime), False for a host bind path."""
        return not self.source.startswith("/")


@dataclass(frozen=True)
class HealthCommand:
    """A check run inside the container, as Docker's HEALTHCHECK and Compose's `healthcheck`
    describe one: `command` (an argv; exit 0 means healthy) every `interval` seconds, failing
    after `timeout`; `retries` failures in a row make the container unhealthy; failures within
    `start_period` do not count."""

    command: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "command", _command(self.command, "health.command"))
        set_(self, "interval", validate_seconds("health.interval", self.interval, allow_zero=False))
        set_(self, "timeout", validate_seconds("health.timeout", self.timeout, allow_zero=False))
        set_(self, "start_period", validate_seconds("health.start_period", self.start_period))
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or not 1 <= self.retries <= 1000:
            raise InvalidSpecError("health.retries", self.retries, "a whole number from 1 to 1000")

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "interval": self.interval,
            "timeout": self.timeout,
            "retries": self.retries,
            "start_period": self.start_period,
        }


def _health(health: object) -> HealthCommand | None:
    if health is None or isinstance(health, HealthCommand):
        return health
    if isinstance(health, Mapping):
        unknown = sorted(set(health) - {"command", "interval", "timeout", "retries", "start_period"})
        if unknown or "command" not in health:
            raise InvalidSpecError("health", dict(health), "a map of command, interval, timeout, retries, start_period")
        return HealthCommand(**health)
    raise InvalidSpecError("health", health, "a HealthCommand, a map of its fields, or None")


NETWORK_MODES = ("host", "none", "bridge")  # and "container:NAME"; Compose's "service:NAME" is read into that


@dataclass(frozen=True)
class NetworkAttachment:
    """One network a container joins: the names the network's other containers reach it by
    (`aliases`), and the IPv4 address it gets there (None: the runtime picks one; a fixed one
    needs a network made with a subnet that holds it)."""

    name: str
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", validate_network_name(self.name))
        set_(self, "aliases", _aliases(self.aliases))
        if self.ipv4_address is not None:
            address = _ip_address(f"networks[{self.name!r}].ipv4_address", self.ipv4_address, "an IPv4 address")
            if ":" in address:
                raise InvalidSpecError(f"networks[{self.name!r}].ipv4_address", address, "an IPv4 address")
            set_(self, "ipv4_address", address)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            **({"ipv4_address": self.ipv4_address} if self.ipv4_address else {}),
        }


NETWORK_DRIVER_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class NetworkOptions:
    """How `up` makes a network (a Compose file's top-level `networks.<key>`): its own `labels`
    (beside this layer's ownership labels), the `driver` (None: the runtime's bridge), `internal`
    (no route out), and IPv4/IPv6 `subnets` (its IPAM config; none: the runtime picks). Beyond
    labels, each needs the capability "network_options"."""

    labels: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    driver: str | None = None
    internal: bool = False
    subnets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "labels", _frozen(_labels(self.labels)))
        if self.driver is not None and (
            not isinstance(self.driver, str) or not NETWORK_DRIVER_RE.fullmatch(self.driver)
        ):
            raise InvalidSpecError("driver", self.driver, "a network driver's name, such as bridge")
        set_(self, "internal", options.flag("internal", self.internal))
        if isinstance(self.subnets, str) or not isinstance(self.subnets, Sequence):
            raise InvalidSpecError("subnets", self.subnets, "a list of subnets such as 10.5.0.0/24")
        subnets = []
        for subnet in self.subnets:
            try:
                subnets.append(str(ipaddress.ip_network(str(subnet), strict=True)))
            except ValueError:
                raise InvalidSpecError("subnets", subnet, "a subnet such as 10.5.0.0/24 (no host bits set)") from None
        set_(self, "subnets", tuple(subnets))

    @property
    def special(self) -> bool:
        """Asks for more than labels: a driver, internal or a subnet (capability "network_options")."""
        return self.driver is not None or self.internal or bool(self.subnets)

    def holds(self, address: str) -> bool:
        """Is `address` in one of the subnets?"""
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(s) for s in self.subnets)


def _networks(networks: object) -> tuple[NetworkAttachment, ...]:
    """Attachments from NetworkAttachments, names, maps of their fields, or a map of names to
    {aliases, ipv4_address} (Compose's long form); the first is the one a container is created on."""
    if networks is None:
        return ()
    if isinstance(networks, Mapping):
        networks = [{"name": k, **(dict(v) if isinstance(v, Mapping) else {})} for k, v in networks.items()]
    if isinstance(networks, str) or not isinstance(networks, Sequence):
        raise InvalidSpecError("networks", networks, "a list of network names or NetworkAttachments")
    out: list[NetworkAttachment] = []
    for item in networks:
        if isinstance(item, str):
            item = NetworkAttachment(item)
        elif isinstance(item, Mapping):
            unknown = sorted(set(item) - {"name", "aliases", "ipv4_address"})
            if unknown or "name" not in item:
                raise InvalidSpecError("networks", dict(item), "a map of name, aliases and ipv4_address")
            item = NetworkAttachment(item["name"], tuple(item.get("aliases") or ()), item.get("ipv4_address"))
        elif not isinstance(item, NetworkAttachment):
            raise InvalidSpecError("networks", item, "a network name, a NetworkAttachment or a map of its fields")
        if any(n.name == item.name for n in out):
            raise InvalidSpecError("networks", item.name, "each network may be joined once")
        out.append(item)
    return tuple(out)


def _network_mode(mode: object) -> str | None:
    if mode is None:
        return None
    if isinstance(mode, str) and mode.startswith("container:"):
        return "container:" + validate_name(mode.removeprefix("container:"), "network_mode")
    if mode not in NETWORK_MODES:
        raise InvalidSpecError("network_mode", mode, f"one of {', '.join(NETWORK_MODES)} or container:NAME")
    return str(mode)


def _frozen(mapping: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ContainerSpec:
    """A validated, immutable description of one container.

    Build it with the keyword shapes oblako uses today::

        ContainerSpec(name="oblako-s3", image="localhost/s3:1",
                      ports={"8000/tcp": 8001}, volumes={"data": {"bind": "/data", "mode": "rw"}},
                      command="serve --port 8000")

    Every field is normalised; an invalid one raises `InvalidSpecError` naming the field,
    the value and the rule.
    """

    name: str
    image: str
    ports: tuple[PortSpec, ...] = ()
    environment: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    volumes: tuple[VolumeSpec, ...] = ()
    extra_hosts: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    command: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    entrypoint: tuple[str, ...] | None = None  # replaces the image's ENTRYPOINT (and, as in Docker, its CMD)
    network: str | None = None  # a network made by `Backend.create_network` to join instead of the default
    aliases: tuple[str, ...] = ()  # names the project's other containers reach this one by
    health: HealthCommand | None = None  # run inside the container where the backend can (capability "health")
    # What Compose adds (options.py validates each; FIELD_CAPABILITY names what a backend needs
    # to apply it). Unset, they leave the runtime's defaults and the fingerprint unchanged.
    expose: tuple[str, ...] = ()  # "PORT/PROTOCOL" reached by other containers, not published
    tmpfs: Mapping[str, str] = field(default_factory=lambda: _frozen({}))  # target -> mount options
    files: tuple[options.FileSpec, ...] = ()  # secrets and configs, put in place before the start
    init: bool | None = None  # run an init as PID 1 that reaps zombies and forwards signals
    stdin_open: bool = False
    tty: bool = False
    stop_signal: str | None = None
    stop_grace_period: float | None = None  # seconds from stop_signal to SIGKILL
    restart: str | None = None  # no, always, unless-stopped, on-failure[:N]
    hostname: str | None = None
    domainname: str | None = None
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    read_only: bool = False  # the root filesystem; mounts and tmpfs stay writable
    shm_size: int | None = None  # bytes of /dev/shm
    mem_limit: int | None = None  # bytes
    mem_reservation: int | None = None  # bytes the runtime should keep free for it
    cpus: float | None = None
    pids_limit: int | None = None
    ulimits: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))  # (soft, hard)
    sysctls: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    devices: tuple[str, ...] = ()  # HOST[:CONTAINER[:PERMISSIONS]]
    platform: str | None = None  # os/arch[/variant] of the image to run
    # Every network joined, the first as `network` and its aliases as `aliases` (which callers
    # may pass instead, for one network); more than one needs the capability "networks".
    networks: tuple[NetworkAttachment, ...] = ()
    # Instead of networks: host, none, bridge (the engine's default) or container:NAME (share
    # that container's network namespace); each needs its capability (`network_mode_needs`).
    network_mode: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", validate_name(self.name))
        set_(self, "image", validate_image(self.image))
        set_(self, "ports", _ports(self.ports))
        set_(self, "environment", _frozen(_environment(self.environment)))
        set_(self, "volumes", _volumes(self.volumes))
        set_(self, "extra_hosts", _frozen(_extra_hosts(self.extra_hosts)))
        set_(self, "command", _command(self.command))
        set_(self, "entrypoint", _command(self.entrypoint, "entrypoint"))
        set_(self, "working_dir", _absolute_path("working_dir", self.working_dir))
        set_(self, "user", _user(self.user))
        set_(self, "labels", _frozen(_labels(self.labels)))
        self._set_networks()
        set_(self, "health", _health(self.health))
        set_(self, "expose", options.expose(self.expose))
        set_(self, "tmpfs", options.tmpfs(self.tmpfs))
        set_(self, "files", options.files(self.files))
        set_(self, "init", options.optional_flag("init", self.init))
        for name in ("stdin_open", "tty", "privileged", "read_only"):
            set_(self, name, options.flag(name, getattr(self, name)))
        set_(self, "stop_signal", options.stop_signal(self.stop_signal))
        set_(self, "stop_grace_period", options.seconds("stop_grace_period", self.stop_grace_period))
        set_(self, "restart", options.restart(self.restart))
        set_(self, "hostname", options.host_name("hostname", self.hostname))
        set_(self, "domainname", options.host_name("domainname", self.domainname))
        set_(self, "dns", options.dns(self.dns))
        set_(self, "dns_search", options.dns_search(self.dns_search))
        set_(self, "cap_add", options.linux_capabilities("cap_add", self.cap_add))
        set_(self, "cap_drop", options.linux_capabilities("cap_drop", self.cap_drop))
        set_(self, "security_opt", options.security_opt(self.security_opt))
        for name in ("shm_size", "mem_limit", "mem_reservation"):
            set_(self, name, options.whole(name, getattr(self, name), 1))
        set_(self, "cpus", options.cpus(self.cpus))
        set_(self, "pids_limit", options.whole("pids_limit", self.pids_limit, -1))
        set_(self, "ulimits", options.ulimits(self.ulimits))
        set_(self, "sysctls", options.sysctls(self.sysctls))
        set_(self, "devices", options.devices(self.devices))
        set_(self, "platform", options.platform(self.platform))

    def _set_networks(self) -> None:
        """`networks`, `network` and `aliases` made to agree: `network`/`aliases` are the first
        attachment; given alone (as oblako passes them), they make it."""
        set_ = object.__setattr__
        network = None if self.network is None else validate_network_name(self.network)
        aliases = _aliases(self.aliases)
        networks = _networks(self.networks)
        if networks:
            first = networks[0]
            if network not in (None, first.name) or (aliases and aliases != first.aliases):
                raise InvalidSpecError(
                    "network", network, "network and aliases, when given with networks, are its first one's"
                )
            network, aliases = first.name, first.aliases
        elif network is not None:
            networks = (NetworkAttachment(network, aliases),)
        mode = _network_mode(self.network_mode)
        if mode is not None:
            if networks or aliases:
                raise InvalidSpecError(
                    "network_mode", mode, "network_mode and networks (or network, aliases) cannot be combined"
                )
            if self.ports:
                raise InvalidSpecError(
                    "ports",
                    [p.key for p in self.ports],
                    f"network_mode {mode} publishes no ports"
                    + (" (the container's ports are the host's)" if mode == "host" else "")
                    + "; leave ports out",
                )
        set_(self, "network", network)
        set_(self, "aliases", aliases)
        set_(self, "networks", networks)
        set_(self, "network_mode", mode)

    def network_needs(self) -> dict[str, tuple[str, ...]]:
        """The capabilities this spec's networking needs beyond one network: capability -> keys."""
        out: dict[str, tuple[str, ...]] = {}
        if len(self.networks) > 1:
            out["networks"] = ("networks",)
        if any(n.ipv4_address for n in self.networks):
            out["ipv4_address"] = ("ipv4_address",)
        if self.network_mode is not None:
            out[network_mode_capability(self.network_mode)] = ("network_mode",)
        return out

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        """Like the dataclass's, with environment values masked: they are secrets (OBLAKO_TRACE prints specs)."""
        fields = {**self.to_kwargs(), "environment": {k: SECRET_MASK for k in self.environment}}
        return "ContainerSpec(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"

    def to_kwargs(self) -> dict[str, Any]:
        """The spec in oblako's keyword shapes; ``ContainerSpec(**spec.to_kwargs()) == spec``."""
        return {
            "name": self.name,
            "image": self.image,
            "ports": {p.key: (p.host_ip, p.host_port) if p.host_ip else p.host_port for p in self.ports},
            "environment": dict(self.environment),
            "volumes": _volume_kwargs(self.volumes),
            "extra_hosts": dict(self.extra_hosts),
            "command": list(self.command) if self.command is not None else None,
            "working_dir": self.working_dir,
            "user": self.user,
            "labels": dict(self.labels),
            # Only when set, so specs without one keep the fingerprints they always had.
            **({"entrypoint": list(self.entrypoint)} if self.entrypoint is not None else {}),
            **({"network": self.network} if self.network is not None else {}),
            **({"aliases": list(self.aliases)} if self.aliases else {}),
            **({"health": self.health.as_dict()} if self.health is not None else {}),
            **self.options_set(),
            # Only what `network`/`aliases` do not say already: one plain network keeps its fingerprint.
            **(
                {"networks": [n.as_dict() for n in self.networks]}
                if self.networks[1:] or any(n.ipv4_address for n in self.networks)
                else {}
            ),
            **({"network_mode": self.network_mode} if self.network_mode is not None else {}),
        }

    def options_set(self) -> dict[str, Any]:
        """The Compose options given (options.FIELD_CAPABILITY's fields not at their default),
        in keyword shapes; files as `FileSpec`s."""
        out: dict[str, Any] = {}
        for name in options.FIELD_CAPABILITY:
            value = getattr(self, name)
            if value is None or value is False or (not isinstance(value, bool) and not value and value != 0):
                continue
            if isinstance(value, Mapping):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def needs(self) -> dict[str, tuple[str, ...]]:
        """The capabilities this spec's options need, each with the fields that need it."""
        out: dict[str, tuple[str, ...]] = {}
        for name in self.options_set():
            if name == "restart" and self.restart == "no":
                continue  # what a runtime without restart policies does anyway: it needs none
            capability = options.FIELD_CAPABILITY[name]
            out[capability] = (*out.get(capability, ()), name)
        if any(v.selinux for v in self.volumes):  # a mount option, not a field of its own
            out["selinux"] = ("volumes",)
        return {**out, **self.network_needs()}

    def fingerprint(self) -> str:
        """A short stable hash of everything but ownership labels: a changed spec changes it."""
        data = self.to_kwargs()
        if "files" in data:
            data["files"] = [f.as_dict() for f in self.files]
        data["labels"] = {k: v for k, v in data["labels"].items() if not k.startswith(RESERVED_LABEL_PREFIX)}
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def owned_by(
        self, backend: str, service: str | None = None, project: str | None = None, *, start_later: bool = False
    ) -> ContainerSpec:
        """This spec plus the ownership labels that let stop/remove recognise it later (and,
        with `start_later`, the label of a container created to be started later)."""
        labels = dict(self.labels)
        if start_later:
            labels[START_LABEL] = START_LATER
        labels.update(
            {
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                SERVICE_LABEL: service or self.name,
                BACKEND_LABEL: backend,
                SPEC_HASH_LABEL: self.fingerprint(),
            }
        )
        if project is not None:
            labels[PROJECT_LABEL] = validate_project(project)
        return _with_labels(self, labels)


def network_mode_capability(mode: str) -> str:
    """The capability a network_mode needs: network_mode_host, _none, _bridge or _container."""
    return "network_mode_" + mode.partition(":")[0]


def _with_labels(spec: ContainerSpec, labels: dict[str, str]) -> ContainerSpec:
    """Copy `spec` with labels that may use the reserved prefix (only this module does that)."""
    copy = object.__new__(ContainerSpec)
    for name in ContainerSpec.__dataclass_fields__:
        object.__setattr__(copy, name, getattr(spec, name))
    object.__setattr__(copy, "labels", _frozen(_labels(labels, allow_reserved=True)))
    return copy


def _no_nul(field_name: str, value: str) -> str:
    if "\x00" in value:
        raise InvalidSpecError(field_name, value, "must not contain a NUL character")
    return value


def validate_project(project: object, field_name: str = "project") -> str:
    """A project name as Compose allows it: lower-case letters, digits, '-' and '_', starting
    with a letter or digit."""
    if not isinstance(project, str) or len(project) > 63 or not PROJECT_RE.fullmatch(project):
        raise InvalidSpecError(
            field_name,
            project,
            "a project name is up to 63 lower-case letters, digits, '-' and '_', starting with a letter or digit",
        )
    return project


def project_from_directory(directory: str) -> str:
    """The project name Compose derives from a directory's name: lower-cased, other characters
    dropped, leading '-' and '_' trimmed ("" when nothing is left)."""
    name = re.sub(r"[^a-z0-9_-]", "", directory.lower()).lstrip("-_")
    return name[:63]


def validate_volume_name(name: object) -> str:
    """A named volume's name, by Docker's rule."""
    return _object_name("volume", name)


def validate_network_name(name: object) -> str:
    """A network's name: Docker's rule for named volumes serves for networks too."""
    return _object_name("network", name)


def _object_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not VOLUME_NAME_RE.fullmatch(name) or len(name) > 255:
        raise InvalidSpecError(kind, name, f"a {kind} name is [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 255 characters")
    return name


def _aliases(aliases: object) -> tuple[str, ...]:
    """Names to resolve to the container on its network: each a DNS label (no dots, so no
    alias can pose as a real domain), at most 63 characters."""
    if isinstance(aliases, str) or not isinstance(aliases, Sequence):
        raise InvalidSpecError("aliases", aliases, "a list of names")
    for alias in aliases:
        if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias):
            raise InvalidSpecError(
                "aliases", alias, "an alias is up to 63 letters, digits, '-' and '_', starting with a letter or digit"
            )
    return tuple(dict.fromkeys(aliases))


def validate_dockerfile(path: object) -> str:
    """A Dockerfile's path inside a build context: relative, and never leading out of it."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise InvalidSpecError("dockerfile", path, "a path inside the build context, e.g. Dockerfile.dev")
    normal = posixpath.normpath(path)
    if posixpath.isabs(normal) or normal == ".." or normal.startswith("../") or path.startswith("-"):
        raise InvalidSpecError("dockerfile", path, "must be a path inside the build context, relative to it")
    return normal


BUILD_ARG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
STAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

# Which capability (models.CAPABILITIES) each BuildSpec field needs; a builder without it is
# refused before anything is built: a missing target or argument would build another image.
BUILD_CAPABILITY: Mapping[str, str] = MappingProxyType(
    {"target": "build_options", "args": "build_options", "cache_from": "build_options", "labels": "build_options"}
    | {"secrets": "build_secrets"}
)


@dataclass(frozen=True)
class BuildSpec:
    """What a build takes besides its context and Dockerfile, as Compose's `build` gives it:
    the stage to stop at, ARG values, images to reuse layers from, labels for the image, and
    secrets for `RUN --mount=type=secret,id=ID` (each a FileSpec at /run/secrets/ID, its
    content never shown). The default asks nothing of the builder."""

    target: str | None = None
    args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cache_from: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    secrets: tuple[options.FileSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.target is not None and (not isinstance(self.target, str) or not STAGE_RE.fullmatch(self.target)):
            raise InvalidSpecError("build.target", self.target, "a stage name of the Dockerfile (FROM ... AS NAME)")
        args: dict[str, str] = {}
        for key, value in _string_map("build.args", self.args).items():
            if not isinstance(key, str) or not BUILD_ARG_RE.fullmatch(key):
                raise InvalidSpecError("build.args", key, "an ARG name: letters, digits and '_', not first a digit")
            at = f"build.args[{key!r}]"  # a value may be a token: never echoed, as environment values
            if not isinstance(value, str):
                raise InvalidSpecError(at, value, "a build argument's value is a string", secret=True)
            if "\x00" in value:
                raise InvalidSpecError(at, value, "must not contain a NUL character", secret=True)
            args[key] = value
        if isinstance(self.cache_from, str) or not isinstance(self.cache_from, Sequence):
            raise InvalidSpecError("build.cache_from", self.cache_from, "a list of image references")
        for image in self.cache_from:
            if not isinstance(image, str) or not IMAGE_RE.fullmatch(image):
                raise InvalidSpecError(
                    "build.cache_from", image, "an image reference (e.g. registry.example/app:cache) to reuse layers of"
                )
        secrets = options.files(self.secrets)
        for secret in secrets:
            if posixpath.dirname(secret.target) != "/run/secrets":
                raise InvalidSpecError("build.secrets", secret.target, "a build secret is at /run/secrets/ID")
        object.__setattr__(self, "args", _frozen(dict(sorted(args.items()))))
        object.__setattr__(self, "cache_from", tuple(dict.fromkeys(self.cache_from)))
        object.__setattr__(self, "labels", _frozen(_labels(self.labels)))
        object.__setattr__(self, "secrets", secrets)

    def __repr__(self) -> str:
        """Like the dataclass's, with ARG values masked: a build argument often carries a token."""
        args = {k: SECRET_MASK for k in self.args}
        return (
            f"BuildSpec(target={self.target!r}, args={args!r}, cache_from={self.cache_from!r}, "
            f"labels={dict(self.labels)!r}, secrets={self.secrets!r})"
        )

    def given(self) -> tuple[str, ...]:
        """The fields set to something other than their default, in BUILD_CAPABILITY's order."""
        return tuple(name for name in BUILD_CAPABILITY if getattr(self, name))

    def needs(self) -> dict[str, tuple[str, ...]]:
        """The capabilities this build needs, each with the fields that need it."""
        out: dict[str, tuple[str, ...]] = {}
        for name in self.given():
            out[BUILD_CAPABILITY[name]] = (*out.get(BUILD_CAPABILITY[name], ()), name)
        return out

    def secret_ids(self) -> dict[str, options.FileSpec]:
        """Each secret by the id a Dockerfile names it with."""
        return {posixpath.basename(s.target): s for s in self.secrets}


def validate_image(image: object) -> str:
    if not isinstance(image, str) or not image:
        raise InvalidSpecError("image", image, "an image reference is a non-empty string")
    if not IMAGE_RE.fullmatch(image):
        raise InvalidSpecError(
            "image",
            image,
            "expected [registry[:port]/]path[:tag][@sha256:digest], path in lower case, no spaces",
        )
    return image


def _port_number(field_name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidSpecError(field_name, value, "a port is a whole number from 1 to 65535")
    if isinstance(value, str):
        if not value.isdigit() or not value.isascii():
            raise InvalidSpecError(field_name, value, "a port is a whole number from 1 to 65535")
        value = int(value)
    if not 1 <= value <= 65535:
        raise InvalidSpecError(field_name, value, "a port is a whole number from 1 to 65535")
    return value


def _ports(ports: object) -> tuple[PortSpec, ...]:
    if ports is None:
        return ()
    if isinstance(ports, tuple) and all(isinstance(p, PortSpec) for p in ports):
        ports = {p.key: (p.host_ip, p.host_port) if p.host_ip else p.host_port for p in ports}
    if not isinstance(ports, Mapping):
        raise InvalidSpecError(
            "ports",
            ports,
            'expected a mapping like {"8000/tcp": 8001} (None: any free port; ("127.0.0.1", 8001): that address)',
        )
    out: list[PortSpec] = []
    seen_host: set[tuple[int, str]] = set()
    seen_container: set[tuple[int, str]] = set()
    for key, host in ports.items():
        if isinstance(key, int) and not isinstance(key, bool):
            number, protocol = key, "tcp"
        elif isinstance(key, str):
            number_text, _, protocol = key.partition("/")
            protocol = protocol or "tcp"
            number = _port_number("ports", number_text)
        else:
            raise InvalidSpecError("ports", key, 'a port key is "PORT" or "PORT/PROTOCOL"')
        number = _port_number("ports", number)
        if protocol not in PROTOCOLS:
            raise InvalidSpecError("ports", key, f"protocol must be one of {', '.join(PROTOCOLS)}")
        host_ip = None
        if isinstance(host, (tuple, list)):  # (address, port or None), as docker-py takes it
            if len(host) != 2:
                raise InvalidSpecError(f"ports[{key!r}]", host, "an (address, host port or None) pair")
            host_ip, host = _ip_address(f"ports[{key!r}]", host[0], "an IPv4 or IPv6 address"), host[1]
        host_port = None if host is None else _port_number(f"ports[{key!r}]", host)
        if (number, protocol) in seen_container:
            raise InvalidSpecError("ports", key, "each container port may appear once")
        seen_container.add((number, protocol))
        if host_port is not None:
            if (host_port, protocol) in seen_host:
                raise InvalidSpecError(f"ports[{key!r}]", host_port, "two container ports cannot share a host port")
            seen_host.add((host_port, protocol))
        out.append(PortSpec(number, protocol, host_port, host_ip))
    return tuple(sorted(out, key=lambda p: (p.container_port, p.protocol)))


def _string_map(field_name: str, value: object) -> Mapping[object, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSpecError(field_name, value, "expected a mapping of names to values")
    return value


def _environment(environment: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _string_map("environment", environment).items():
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise InvalidSpecError(
                "environment",
                key,
                "a variable name is a non-empty string without '=', NUL, spaces or newlines, not starting with '-'",
            )
        where = f"environment[{key!r}]"
        if value is None or isinstance(value, (Mapping, list, tuple, set, bytes)):
            raise InvalidSpecError(where, value, "a value is a string, number or boolean", secret=True)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidSpecError(where, value, "a number must be finite", secret=True)
        text = str(value)
        if "\x00" in text:
            raise InvalidSpecError(where, text, "must not contain a NUL character", secret=True)
        out[key] = text
    return dict(sorted(out.items()))


def _volumes(volumes: object) -> tuple[VolumeSpec, ...]:
    if volumes is None:
        return ()
    if isinstance(volumes, tuple) and all(isinstance(v, VolumeSpec) for v in volumes):
        return tuple(sorted(volumes, key=lambda v: v.target))
    # A mapping, as oblako writes volumes; or (source, mount) pairs, where one source is
    # mounted at several targets (a Compose file may do that).
    pairs = (
        list(volumes.items())
        if isinstance(volumes, Mapping)
        else list(volumes)
        if isinstance(volumes, list) and all(isinstance(p, tuple) and len(p) == 2 for p in volumes)
        else None
    )
    if pairs is None:
        raise InvalidSpecError("volumes", volumes, 'expected a mapping like {"data": {"bind": "/data", "mode": "rw"}}')
    out: list[VolumeSpec] = []
    targets: set[str] = set()
    for source, mount in pairs:
        if not isinstance(source, str) or not (VOLUME_NAME_RE.fullmatch(source) or source.startswith("/")):
            raise InvalidSpecError(
                "volumes",
                source,
                "a source is a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*) or an absolute host path; "
                "relative paths are ambiguous",
            )
        _no_nul("volumes", source)
        if source.startswith("/"):
            if ":" in source:
                raise InvalidSpecError("volumes", source, "a host path must not contain ':' (it separates fields)")
            source = posixpath.normpath(source)
            if source in ("/", "//"):
                raise InvalidSpecError("volumes", source, "mounting the host's root directory is refused")
        if isinstance(mount, str):
            mount = {"bind": mount}
        if not isinstance(mount, Mapping) or "bind" not in mount:
            raise InvalidSpecError(f"volumes[{source!r}]", mount, 'expected {"bind": "/path", "mode": "rw" or "ro"}')
        unknown = set(mount) - {"bind", "mode", "selinux"}
        if unknown:
            raise InvalidSpecError(
                f"volumes[{source!r}]", mount, f"unknown keys {sorted(unknown)}; use bind, mode and selinux"
            )
        selinux = mount.get("selinux")
        if selinux not in (None, "z", "Z"):
            raise InvalidSpecError(
                f"volumes[{source!r}].selinux", selinux, "'z' (shared with other containers), 'Z' (private) or None"
            )
        target = _mount_target(f"volumes[{source!r}].bind", mount["bind"])
        mode = mount.get("mode", "rw")
        if mode not in ("rw", "ro"):
            raise InvalidSpecError(f"volumes[{source!r}].mode", mode, "mode is 'rw' or 'ro'")
        if target in targets:
            raise InvalidSpecError(f"volumes[{source!r}].bind", target, "two volumes cannot mount at the same path")
        targets.add(target)
        out.append(VolumeSpec(source, target, mode == "ro", selinux))
    return tuple(sorted(out, key=lambda v: v.target))


def _volume_kwargs(volumes: tuple[VolumeSpec, ...]) -> dict[str, dict[str, str]] | list[tuple[str, dict[str, str]]]:
    """oblako's mapping; pairs when a source is mounted twice (a mapping would keep one)."""
    pairs = [
        (
            v.source,
            {"bind": v.target, "mode": "ro" if v.read_only else "rw"} | ({"selinux": v.selinux} if v.selinux else {}),
        )
        for v in volumes
    ]
    return dict(pairs) if len({v.source for v in volumes}) == len(volumes) else pairs


def _mount_target(field_name: str, target: object) -> str:
    """An absolute path inside the container, normalised so `/d` and `/d/` are one target."""
    path = _absolute_path(field_name, target)
    assert path is not None
    if ":" in path:
        raise InvalidSpecError(field_name, path, "a mount target must not contain ':' (it separates fields)")
    path = posixpath.normpath(path)
    if path in ("/", "//"):
        raise InvalidSpecError(field_name, path, "a volume cannot be mounted over the container's root '/'")
    return path


def _ip_address(field_name: str, address: object, rule: str = f"an IPv4 or IPv6 address or {HOST_GATEWAY!r}") -> str:
    """A plain IPv4 or IPv6 address as text: no scope ID, no whitespace, never a number."""
    rule = f"{rule} (without a %scope)"
    if not isinstance(address, str) or not address.isascii() or "%" in address:
        raise InvalidSpecError(field_name, address, rule)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise InvalidSpecError(field_name, address, rule) from None
    return str(parsed)


def _extra_hosts(extra_hosts: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for host, address in _string_map("extra_hosts", extra_hosts).items():
        if not isinstance(host, str) or not host.isascii() or not HOSTNAME_RE.fullmatch(host):
            raise InvalidSpecError("extra_hosts", host, "a key is a valid host name")
        where = f"extra_hosts[{host!r}]"
        out[host] = HOST_GATEWAY if address == HOST_GATEWAY else _ip_address(where, address)
    return dict(sorted(out.items()))


_WORD_PART = re.compile(
    r"""'(?P<single>[^']*)'"""  # single quotes: all literal
    r"""|"(?P<double>[^"\\]*(?:\\.[^"\\]*)*)\""""  # double quotes: a backslash escapes the next one
    r"|\\(?P<escaped>.)"  # outside quotes, a backslash escapes any character
    r"""|(?P<plain>[^ \t\r\n'"\\]+)"""
    r"|(?P<space>[ \t\r\n]+)",
    re.S,
)
_DOUBLE_QUOTED_ESCAPE = re.compile(r'\\([\\"])')


def split_words(text: str) -> list[str]:
    """Split a command line as a POSIX shell does (what shlex.split does), in linear time:
    shlex builds each word a character at a time, quadratic in a word's length (a 1 MB
    `command:` took 13 s). Raises ValueError for an unclosed quote or a trailing backslash."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    position = 0
    while position < len(text):
        match = _WORD_PART.match(text, position)
        if match is None:
            raise ValueError(_unsplittable(text, position))
        position = match.end()
        if match.lastgroup == "space":
            if in_word:
                words.append("".join(word))
            word, in_word = [], False
            continue
        part = match.group(match.lastgroup or "plain")
        if match.lastgroup == "double":
            part = _DOUBLE_QUOTED_ESCAPE.sub(r"\1", part)
        word.append(part)
        in_word = True
    if in_word:
        words.append("".join(word))
    return words


def _unsplittable(text: str, position: int) -> str:
    """Why no word part starts at `position`, in shlex's words: an open quote, or a backslash
    that ends the text (also inside an open double quote: then a closing quote would be escaped)."""
    if text[position] == '"':
        closed = _WORD_PART.match(text + '"', position)
        return "No closing quotation" if closed and closed.end() == len(text) + 1 else "No escaped character"
    return "No closing quotation" if text[position] == "'" else "No escaped character"


def _command(command: object, field_name: str = "command") -> tuple[str, ...] | None:
    if command is None:
        return None
    if isinstance(command, str):
        try:
            parts = split_words(command)
        except ValueError as exc:
            raise InvalidSpecError(field_name, command, f"cannot be split like a shell: {exc}") from None
    elif isinstance(command, Sequence) and all(isinstance(a, str) for a in command):
        parts = list(command)
    else:
        raise InvalidSpecError(field_name, command, f"a {field_name} is a string or a list of strings")
    if not parts:
        raise InvalidSpecError(field_name, command, f"an empty {field_name}; pass None to run the image's default")
    return tuple(_no_nul(field_name, a) for a in parts)


def exec_arguments(
    command: object, environment: object, working_dir: object, user: object
) -> tuple[tuple[str, ...], dict[str, str], str | None, str | None]:
    """What `Backend.exec` passes on, validated as the spec's own command, environment,
    working_dir and user are."""
    argv = _command(command)
    if argv is None:
        raise InvalidSpecError("command", command, "a command to run is required")
    return argv, _environment(environment), _absolute_path("working_dir", working_dir), _user(user)


def _absolute_path(field_name: str, path: object) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidSpecError(field_name, path, "must be an absolute path (starting with '/')")
    return _no_nul(field_name, path)


def _user(user: object) -> str | None:
    if user is None:
        return None
    if isinstance(user, int) and not isinstance(user, bool):
        if user < 0:
            raise InvalidSpecError("user", user, "a numeric user id is 0 or more")
        return str(user)
    if not isinstance(user, str) or not USER_RE.fullmatch(user):
        raise InvalidSpecError("user", user, "expected 'name', 'uid' or 'uid:gid'")
    return user


def _labels(labels: object, allow_reserved: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _string_map("labels", labels).items():
        if not isinstance(key, str) or not LABEL_KEY_RE.fullmatch(key):
            raise InvalidSpecError("labels", key, "a label key is 1-253 characters of [A-Za-z0-9_./-]")
        if key.startswith(RESERVED_LABEL_PREFIX) and not allow_reserved:
            raise InvalidSpecError(
                "labels", key, f"keys starting with {RESERVED_LABEL_PREFIX!r} are reserved for ownership"
            )
        if not isinstance(value, str):
            raise InvalidSpecError(f"labels[{key!r}]", value, "a label value is a string")
        out[key] = _no_nul(f"labels[{key!r}]", value)
    return dict(sorted(out.items()))


def validate_seconds(field_name: str, value: object, *, allow_zero: bool = True) -> float:
    """A duration: a finite number of seconds, 0 or more (more than 0 unless `allow_zero`).

    NaN, infinity and negatives would mean an endless or meaningless wait, so they are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSpecError(field_name, value, "a duration is a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise InvalidSpecError(field_name, value, f"a duration is a finite number of seconds, {least}")
    return seconds


_GO_DURATION = re.compile(r"([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|\u00b5s|ms|s|m|h))+|0)")
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|ms|s|m|h)")
_DURATION_UNIT = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_UNIX_TIME = re.compile(r"\d+(?:\.\d{1,9})?")


def log_moment(field_name: str, text: str, now: float) -> float:
    """A moment given as `logs --since/--until` take one, as seconds since the epoch: an RFC 3339
    time ("2013-01-02T13:23:37Z"; without a zone, this machine's local time; a date alone is its
    midnight), a Unix timestamp ("1700000000.5"), or a Go duration before `now` ("42m", "1h30m")."""
    import datetime

    value = str(text).strip()
    relative = _GO_DURATION.fullmatch(value) if value != "0" else None  # "0": Unix time 0, as Docker reads it
    if relative:
        seconds = sum(float(n) * _DURATION_UNIT[u] for n, u in _DURATION_PART.findall(relative[2]))
        return now - (-seconds if relative[1] == "-" else seconds)
    if _UNIX_TIME.fullmatch(value):
        return float(value)
    moment = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("z", "Z").replace("Z", "+00:00")  # nanoseconds: to micro
    try:
        parsed = datetime.datetime.fromisoformat(moment)
    except ValueError:
        raise InvalidSpecError(
            field_name,
            text,
            "expected a time like 2013-01-02T13:23:37Z (RFC 3339), a Unix timestamp, or a duration before now like 42m",
        ) from None
    return parsed.timestamp()  # one without a zone is local time, as Docker reads it


# -- docker-style shorthand, as typed on a command line or in a services file ---------------


def parse_port(text: str, field_name: str = "-p") -> tuple[str, int | None]:
    """ "HOST:CONTAINER[/PROTO]" or "CONTAINER[/PROTO]" -> ("CONTAINER/PROTO", HOST or None)."""
    host, sep, container = str(text).rpartition(":")
    number, _, proto = container.partition("/")
    if sep and not (host.isascii() and host.isdigit()):
        raise InvalidSpecError(field_name, text, "expected HOST_PORT:CONTAINER_PORT[/PROTO] or CONTAINER_PORT")
    return f"{number}/{proto or 'tcp'}", _port_number(field_name, host) if sep else None


def parse_volume(text: str, field_name: str = "-v") -> tuple[str, dict[str, str]]:
    """ "SOURCE:TARGET[:ro|rw]" -> (SOURCE, {"bind": TARGET, "mode": ...})."""
    parts = str(text).split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise InvalidSpecError(field_name, text, "expected SOURCE:TARGET[:ro|rw]")
    return parts[0], {"bind": parts[1], "mode": parts[2] if len(parts) == 3 else "rw"}
