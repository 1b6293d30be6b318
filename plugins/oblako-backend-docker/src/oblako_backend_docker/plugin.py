"""The Docker Engine API backend; Podman and Colima subclass it and change only what differs.

docker-py is imported on first use, never at load time. Every request carries a deadline
(``OBLAKO_TIMEOUT``, probes ``OBLAKO_PROBE_TIMEOUT``); a daemon that is gone or silent
raises `RuntimeUnavailableError`, and the next call reconnects, so a restarted daemon is
picked up by the same object.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from oblako_backends import (
    ConfigurationError,
    ContainerInfo,
    Health,
    ImageNotFoundError,
    LogStream,
    NameInUseError,
    OblakoBackendError,
    PortInUseError,
    Probe,
    Progress,
    PublishedPort,
    RuntimeUnavailableError,
    State,
    config as core_config,
    hookimpl,
)
from oblako_backends.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from oblako_backends.models import CAPABILITIES, NetworkCapacity, Processes, epoch_seconds, seconds_since

from . import endpoints
from .connection import Connection, engine_from_ping, ping
from .convert import (
    HEALTH_STATUS,
    NANOSECONDS,
    Engine,
    capacity,
    container_options,
    endpoint_options,
    engine_from_version,
    exposed_ports,
    files_archive,
    host_options,
    listed_health,
    network_options,
    reason,
    usable_addresses,
)

if TYPE_CHECKING:  # named in signatures only: `ps` and `list` never load the validators
    from oblako_backends import ContainerSpec, HealthCommand
    from oblako_backends.spec import BuildSpec

from .endpoints import Endpoint

log = logging.getLogger(__name__)  # oblako_backend_docker.plugin: a plugin logs under its own package


class _Missing(Exception):
    """The engine answered 404 for the object asked about."""


class DockerPlugin:
    """Containers on a Docker Engine API endpoint."""

    runtime = "docker"
    # Known without connecting (Backend.capabilities). The Engine API's /build is the classic
    # builder: it takes no secrets (BuildKit's come through a session the API has no call for).
    capabilities = frozenset(CAPABILITIES) - {"build_secrets"}
    start_hint = (
        "Start Docker (Docker Desktop, or `sudo systemctl start docker`), or point DOCKER_HOST "
        "or `docker context use` at a running engine."
    )

    def __init__(self, base_url: str | None = None, timeout: float | None = None):
        if base_url is not None:
            endpoints.check_url(base_url, "base_url")
        self._base_url = base_url
        self._timeout = timeout if timeout is not None else core_config.call_timeout()
        self._lock = threading.Lock()
        self._connection: Connection | None = None  # made on first use, dropped when the engine is lost
        self._last_endpoint: Endpoint | None = None  # where the last connection was, for errors after it

    # -- where the engine is (overridden by podman and colima) --------------------------------

    def candidates(self) -> list[Endpoint]:
        """Endpoints to try, in order; the first that answers is used."""
        return [endpoints.resolve(self._base_url)]

    def check_engine(self, engine: Engine, found: Endpoint) -> str | None:
        """Return why the engine at `found` is the wrong one for this backend, or None if it is fine."""
        return None

    # -- connection ------------------------------------------------------------------------

    def _find_engine(self, deadline: float, *, in_full: bool = False) -> tuple[Endpoint, Engine, Any]:
        """The first candidate whose engine answers, which engine it is, and the client that
        asked (still open, at the oldest API version); all of them within `deadline` s.

        /_ping's headers name the engine and its API version at once; /version is asked only
        `in_full` (doctor's platform) or when the headers do not say: Podman takes ~0.4 s over it.
        """
        import docker

        tried: list[tuple[str, str]] = []
        end = time.monotonic() + deadline
        for candidate in self.candidates():
            remaining = end - time.monotonic()
            if remaining <= 0:
                tried.append((str(candidate), "not tried: the probe deadline was spent"))
                continue
            try:
                probe = docker.APIClient(
                    base_url=candidate.url,
                    version=docker.constants.MINIMUM_DOCKER_API_VERSION,  # /version is unversioned
                    timeout=remaining,
                    tls=candidate.tls,
                )
                try:
                    engine = None if in_full else engine_from_ping(probe, remaining)
                    engine = engine or engine_from_version(probe.version(api_version=False))
                except BaseException:
                    probe.close()
                    raise
            except Exception as exc:  # any failure of this candidate is reported, not raised
                tried.append((str(candidate), reason(exc)))
                continue
            wrong = self.check_engine(engine, candidate)
            if wrong:
                probe.close()
                tried.append((str(candidate), wrong))
                continue
            return candidate, engine, probe
        raise RuntimeUnavailableError(self.runtime, tried, self.start_hint)

    @property
    def connection(self) -> Connection:
        """The connection to the engine, made on first use at the negotiated API version."""
        import docker
        from docker.utils import version_lt

        with self._lock:
            if self._connection is None:
                found, engine, client = self._find_engine(core_config.probe_timeout())
                newest = docker.constants.DEFAULT_DOCKER_API_VERSION
                api_version = engine.api_version or newest
                if not version_lt(api_version, newest):
                    api_version = newest
                # The client that found the engine goes on, at the version both sides speak and
                # with the call deadline: one connection instead of two (`ps` stays quick).
                client._version, client.timeout = api_version, self._timeout
                log.debug("%s: %s %s at %s (from %s), API %s", self.runtime, engine.name,
                          engine.version or "?", found.url, found.source, api_version)  # fmt: skip
                self._connection = Connection(client, found, engine)
                self._last_endpoint = found
            return self._connection

    @property
    def api(self) -> Any:
        """The low-level docker-py client (connecting first)."""
        return self.connection.api

    @property
    def url(self) -> str:
        """The URL of the engine this plugin talks to (connecting first)."""
        return self.connection.endpoint.url

    def _reset(self) -> None:
        """Forget the connection (closing its pool), so the next call finds the engine again."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None

    def _where(self) -> str:
        """The endpoint of the current or last connection, for an error message."""
        return str(self._last_endpoint) if self._last_endpoint else "the engine"

    @contextmanager
    def _requests(self, what: str) -> Iterator[None]:
        """Map every failure of an Engine API call to the core's errors."""
        import docker.errors
        import requests

        try:
            yield
        except OblakoBackendError:
            raise  # already ours (some of ours are OSErrors, which the last clause would catch)
        except docker.errors.NotFound as exc:
            raise _Missing(str(exc)) from exc
        except docker.errors.APIError as exc:
            from .wording import command_missing, init_missing, name_in_use, port_in_use  # only when a call failed

            message = str(exc.explanation or exc)
            taken, port = port_in_use(message)
            if taken:
                where = f"host port {port}" if port else "a host port it needs"
                raise PortInUseError(
                    f"can't {what}: {where} is already in use. Another container or process holds "
                    f"it; find it with `{self.runtime} ps --filter publish={port or 'PORT'}` or "
                    f"`ss -ltnp` (often a stale oblako container), stop it, and retry.",
                    port,
                ) from exc
            missing = command_missing(message)
            if missing is not None:
                named = f" {missing!r}" if missing else ""
                raise OblakoBackendError(
                    f"can't {what}: the command's executable{named} is not in the image "
                    "(use its full path, or a command the image provides)"
                ) from exc
            if init_missing(message):
                raise OblakoBackendError(
                    f"can't {what}: {self.runtime} has no init to run for `init: true` ({message.splitlines()[0]}); "
                    "install it (Podman: the catatonit package) or leave init out"
                ) from exc
            if name_in_use(message):
                raise NameInUseError(f"can't {what}: a container of that name was created first") from exc
            if exc.status_code == 409:
                raise OblakoBackendError(f"can't {what}: {message}") from exc
            raise OblakoBackendError(f"{self.runtime} refused to {what}: {message}") from exc
        except (requests.exceptions.RequestException, docker.errors.DockerException, OSError) as exc:
            log.debug("%s: lost the engine while trying to %s (%s); the next call reconnects", self.runtime, what, exc)
            self._reset()
            raise RuntimeUnavailableError(
                self.runtime, [(self._where(), f"while trying to {what}: {reason(exc)}")], self.start_hint
            ) from exc

    # -- images ----------------------------------------------------------------------------

    @hookimpl
    def oblako_ensure_image(self, image: str, progress: Progress | None) -> None:
        try:
            with self._requests(f"inspect image {image}"):
                self.api.inspect_image(image)
        except _Missing:
            self._pull(image, progress)

    def _pull(self, image: str, progress: Progress | None) -> None:
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(image)
        if progress:
            progress(f"pulling {image}")
        try:
            with self._requests(f"pull {image}"):
                for event in self.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                    if "error" in event:
                        raise ImageNotFoundError(f"image {image!r} could not be pulled: {event['error']}")
                    if progress and event.get("status"):
                        progress(" ".join(str(event[k]) for k in ("id", "status", "progress") if event.get(k)))
        except _Missing as exc:
            raise ImageNotFoundError(f"image {image!r} is not present and could not be pulled: {exc}") from exc
        except OblakoBackendError as exc:
            if isinstance(exc, (RuntimeUnavailableError, ImageNotFoundError)):
                raise
            raise ImageNotFoundError(f"image {image!r} could not be pulled: {exc}") from exc

    @hookimpl
    def oblako_build_image(
        self, image: str, context_dir: str, progress: Progress | None, dockerfile: str, build: BuildSpec
    ) -> None:
        given = {  # /build's query: target, buildargs, cachefrom and labels (JSON)
            "target": build.target,
            "buildargs": dict(build.args) or None,
            "cache_from": list(build.cache_from) or None,
            "labels": dict(build.labels) or None,
        }
        with self._requests(f"build {image}"):
            for event in self.api.build(
                path=context_dir, dockerfile=dockerfile, tag=image, rm=True, decode=True, **given
            ):
                if "error" in event:
                    raise OblakoBackendError(f"building {image} from {context_dir} failed: {event['error']}")
                if progress and event.get("stream", "").strip():
                    progress(event["stream"].rstrip())

    # -- containers ------------------------------------------------------------------------

    def host_gateway(self, network: str | None = None) -> str | None:
        """The host's address on `network` (default: the engine's default bridge): where
        `host-gateway` leads.

        Read from the engine (the network's gateway), once per connection, and used only when
        it is an address of this machine, or the address by which a container beside the
        engine reaches the host (see beside_the_engine). Where it is neither (Docker Desktop,
        Colima or a Podman machine in a VM, rootless Podman), containers reach the host
        another way and publishing on it would fail.
        """
        network = network or self.bridge_network
        known = self.connection.host_gateways
        if network not in known:
            gateway = self._gateway_of(network)
            usable = gateway and (self.gateway_is_the_host(gateway) or gateway == self.beside_the_engine())
            known[network] = gateway if usable else ""
        return known[network] or None

    def _gateway_of(self, network: str) -> str:
        """The IPv4 gateway of `network` ("" when none is found), read once per connection: the
        IPAM `Gateway`, else the address of the bridge interface the network names (on this
        machine, for an engine on a local socket), else, for the default bridge, where
        `host-gateway` leads (a stock Docker Engine reports its bridge's subnet only)."""
        known = self.connection.gateways
        if network not in known:
            from . import gateways  # loaded when a gateway is first needed: `ps` never needs one

            try:
                by = network if network == self.bridge_network else self.network_id(network)
                with self._requests(f"inspect network {network!r}"):
                    found = self.api.inspect_network(by)
            except (_Missing, OblakoBackendError):
                found = {}
            gateway = gateways.ipam_gateway(found)
            if not gateway and found and self.url.startswith("unix://"):
                gateway = gateways.bridge_interface_gateway(found)
            if not gateway and found and network == self.bridge_network and self.url.startswith("unix://"):
                gateway = self.where_host_gateway_leads()
            known[network] = gateway
        return known[network]

    PROBE_HOST = "oblako-host-gateway"

    def where_host_gateway_leads(self) -> str:
        """Ask the engine what `host-gateway` resolves to in a container: a throwaway container
        of an empty image (imported, no registry needed; it can run nothing) is given the
        entry, its start is refused, and the /etc/hosts the engine wrote is read back. The
        container and the image are removed again. "" when the engine will not say."""
        import docker.errors

        from . import gateways

        repository, version = "oblako-backends/host-gateway-probe", uuid.uuid4().hex[:12]
        tag, container = f"{repository}:{version}", ""
        try:
            with self._requests("import the host-gateway probe's empty image"):
                self.api.import_image_from_data(gateways.empty_image(), repository=repository, tag=version)
                host_config = self.api.create_host_config(
                    extra_hosts={self.PROBE_HOST: "host-gateway"}, network_mode="none"
                )
                labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
                created = self.api.create_container(tag, command=["/probe"], host_config=host_config, labels=labels)
                container = created["Id"]
                with suppress(docker.errors.APIError):
                    self.api.start(container)  # refused: the image has nothing to run
                stream, _ = self.api.get_archive(container, "/etc/hosts")
                return gateways.hosts_entry(b"".join(stream), self.PROBE_HOST)
        except (_Missing, OblakoBackendError) as exc:
            log.debug("the engine did not say where host-gateway leads: %s", exc)
            return ""
        finally:
            with suppress(Exception):
                if container:
                    self.api.remove_container(container, force=True, v=True)
                self.api.remove_image(tag, force=True)

    def beside_the_engine(self) -> str:
        """Run from a container beside the engine, on its bridge (a CI job with the host's
        socket mounted): the engine's bridge gateway, the host as seen from that container.
        Ports are published there, and found there. "" anywhere else.

        Told by a unix socket, a container's marker file, and a bridge gateway that is not
        one of this machine's addresses (on the host, and in a container the engine runs in,
        it is)."""
        connection = self.connection
        if connection.beside is None:
            gateway = ""
            if self.url.startswith("unix://") and endpoints.inside_a_container():
                gateway = self._gateway_of(self.bridge_network)
            connection.beside = gateway if gateway and not _is_local_address(gateway) else ""
        return connection.beside

    def gateway_network(self, spec: ContainerSpec) -> str | None:
        """The network whose gateway `spec`'s host-gateway means. Docker Engine's is always the
        default bridge's (the daemon's host-gateway-ip), whatever network the container joins."""
        return None

    def gateway_is_the_host(self, gateway: str) -> bool:
        """Does `host-gateway` reach this machine? Docker Engine's bridge exists from start, so
        its gateway is one of this machine's addresses exactly when the engine runs here."""
        return _is_local_address(gateway)

    bridge_network = "bridge"  # the default network's name in the Engine API (Podman answers to it too)

    def bind_addresses(self, host_port: int | None, network: str | None = None) -> tuple[str, ...]:
        """Host addresses a published port listens on (`network`: the one `gateway_network` names).

        OBLAKO_BIND_ADDRESS when set. Otherwise loopback, plus, for a fixed host port, the
        bridge gateway, so that other containers reach the service through
        `host.docker.internal` / `host.containers.internal` on the same port. A random host
        port stays on loopback only: the engine would pick a different port per address.
        """
        explicit = core_config.explicit_bind_addresses()
        if explicit:
            return explicit
        if not core_config.publish_gateway():
            return core_config.bind_addresses()
        beside = self.beside_the_engine()
        if not host_port:  # beside the engine, a random port is only of use where that container reaches it
            return (beside,) if beside else core_config.bind_addresses()
        gateway = self.host_gateway(network)
        return core_config.bind_addresses() + ((gateway,) if gateway else ())

    def listening(self) -> str:
        """Where published ports listen, in words (`doctor` shows it), from `bind_addresses` itself."""
        any_port, fixed = self.bind_addresses(None), self.bind_addresses(1)
        if core_config.explicit_bind_addresses():
            return f"{', '.join(any_port)} (OBLAKO_BIND_ADDRESS)"
        gateways = [a for a in fixed if a not in any_port]
        if any_port == (self.beside_the_engine(),):
            return (
                f"{any_port[0]}, the host's address on the engine's bridge, where this container beside the "
                f"engine reaches it; fixed host ports also on {', '.join(gateways)} (OBLAKO_PUBLISH_GATEWAY=0: "
                "loopback only, unreachable from here)"
            )
        if gateways:
            return (
                f"{', '.join(any_port)}; fixed host ports also on the bridge gateway {', '.join(gateways)}, "
                "reachable by containers and by anything routed to that address "
                "(OBLAKO_PUBLISH_GATEWAY=0: loopback only)"
            )
        return f"{', '.join(any_port)} only"

    def extra_hosts(self, spec: ContainerSpec) -> dict[str, str]:
        """The /etc/hosts entries to ask the engine for (Podman rewrites host-gateway)."""
        return dict(spec.extra_hosts)

    def _create_args(self, spec: ContainerSpec) -> dict[str, Any]:
        network = self.gateway_network(spec)
        port_bindings = {
            p.key: [
                (ip, p.host_port) if p.host_port else (ip,)
                for ip in ((p.host_ip,) if p.host_ip else self.bind_addresses(p.host_port, network))
            ]
            for p in spec.ports
        }
        # A list, not docker-py's mapping: one source may be mounted at several targets.
        binds = [  # SELinux's z/Z joins ro/rw, as in `docker run -v SRC:DST:ro,z`
            f"{v.source}:{v.target}:{'ro' if v.read_only else 'rw'}{',' + v.selinux if v.selinux else ''}"
            for v in spec.volumes
        ]
        # A secret or config read from a host file is mounted from it, as Compose does (a read-only
        # root gets it too); the others are copied in before the start (`_put_files`).
        binds += [f"{f.source}:{f.target}:ro" for f in spec.files if f.source is not None]
        host_config = self.api.create_host_config(
            port_bindings=port_bindings,
            binds=binds,
            extra_hosts=self.extra_hosts(spec) or None,
            network_mode=self.network_id(spec.network) if spec.network else spec.network_mode,
            **host_options(spec),
        )
        networking = None
        if spec.networks:  # created on the first; joined to the others before it starts (`_connect`)
            first = spec.networks[0]
            endpoint = self.api.create_endpoint_config(**endpoint_options(first))
            networking = self.api.create_networking_config({self.network_id(first.name): endpoint})
        return {
            "image": spec.image,
            "name": spec.name,
            "command": list(spec.command) if spec.command else None,
            "entrypoint": list(spec.entrypoint) if spec.entrypoint else None,
            "environment": dict(spec.environment),
            "ports": exposed_ports(spec),
            "labels": dict(spec.labels),
            "working_dir": spec.working_dir,
            "user": spec.user,
            "host_config": host_config,
            "networking_config": networking,
            "healthcheck": self.healthcheck(spec.health),
            "detach": True,
            **container_options(spec),
        }

    @hookimpl
    def oblako_run(self, spec: ContainerSpec) -> None:
        created = self._create(spec)
        try:
            with self._requests(f"start container {spec.name!r}"):
                self.api.start(created)
        except _Missing:  # a concurrent start took it for a leftover and removed it
            raise NameInUseError(f"can't start {spec.name!r}: it was replaced by a concurrent start") from None
        except BaseException:
            self._discard(created)  # a container that never started is not left behind
            raise

    @hookimpl
    def oblako_create(self, spec: ContainerSpec) -> None:
        self._create(spec)

    @hookimpl
    def oblako_start(self, name: str) -> None:
        container = self._exact_id(name)
        try:
            if container is None:
                raise _Missing(name)
            with self._requests(f"start container {name!r}"):
                self.api.start(container)
        except _Missing:
            raise OblakoBackendError(f"no container {name!r} on {self.runtime} to start") from None

    def _create(self, spec: ContainerSpec) -> str:
        """Create the container (pulling its image if missing) with its files in place; its ID."""
        args = self._create_args(spec)
        what = f"create container {spec.name!r}"
        try:
            with self._requests(what):
                created = self.api.create_container(**args)
        except _Missing as exc:
            known = self.connection.network_ids
            stale = [n.name for n in spec.networks if n.name in known]
            if stale and "network" in str(exc).lower():
                for name in stale:  # removed and made again by another process since
                    del known[name]
                return self._create(spec)
            from .wording import image_missing

            if not image_missing(str(exc)):
                raise OblakoBackendError(f"can't {what}: {exc}") from exc
            self._pull(spec.image, None)
            with self._requests(what):
                created = self.api.create_container(**args)
        try:
            self._connect(created["Id"], spec)
            self._put_files(created["Id"], spec)
        except _Missing:  # a concurrent start took it for a leftover and removed it
            raise NameInUseError(f"can't start {spec.name!r}: it was replaced by a concurrent start") from None
        except BaseException:
            self._discard(created["Id"])
            raise
        return str(created["Id"])

    def _connect(self, container_id: str, spec: ContainerSpec) -> None:
        """Join the created container to its other networks, each with its aliases and address,
        before it starts (every API version takes one network at create)."""
        for attached in spec.networks[1:]:
            with self._requests(f"connect {spec.name!r} to network {attached.name!r}"):
                self.api.connect_container_to_network(
                    container_id, self.network_id(attached.name), **endpoint_options(attached)
                )

    def _put_files(self, container_id: str, spec: ContainerSpec) -> None:
        """Copy the spec's secrets and configs that came from no host file into the created
        container, before it starts (the engine refuses a read-only root, as Compose's does)."""
        copied = tuple(f for f in spec.files if f.source is None)
        if not copied:
            return
        with self._requests(f"copy secrets and configs into {spec.name!r}"):
            self.api.put_archive(container_id, "/", files_archive(copied))

    def _discard(self, container_id: str) -> None:
        try:
            with self._requests("remove a container that failed to start"):
                self.api.remove_container(container_id, force=True)
        except (_Missing, OblakoBackendError):
            pass

    def _inspect_exact(self, name: str) -> Mapping[str, Any] | None:
        """The container whose name is exactly `name`, or None.

        The engine also resolves IDs and unique ID prefixes where a name goes, so a name that
        happens to prefix another container's ID must not be taken for that container.
        """
        try:
            with self._requests(f"inspect container {name!r}"):
                data: Mapping[str, Any] = self.api.inspect_container(name)
        except _Missing:
            return None
        return data if str(data.get("Name", "")).lstrip("/") == name else None

    def _exact_id(self, name: str) -> str | None:
        data = self._inspect_exact(name)
        return str(data["Id"]) if data is not None else None

    @hookimpl
    def oblako_inspect(self, name: str) -> ContainerInfo | None:
        data = self._inspect_exact(name)
        if data is None:
            return None
        state = data.get("State") or {}
        config = data.get("Config") or {}
        ports = []
        for key, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
            number, _, proto = key.partition("/")
            for b in bindings or []:
                if b.get("HostPort"):
                    ports.append(PublishedPort(int(number), proto or "tcp", b.get("HostIp", ""), int(b["HostPort"])))
        running = bool(state.get("Running")) and not state.get("Paused")
        info = self._info(
            data.get("Name", name),
            running,
            config.get("Image"),
            config.get("Labels"),
            ports,
            self.health(data),
            container_id=str(data.get("Id") or ""),
        )
        if not running and state.get("Status") in ("exited", "stopped") and isinstance(state.get("ExitCode"), int):
            info = dataclasses.replace(info, exit_code=int(state["ExitCode"]))
        if running:
            info = dataclasses.replace(info, address=self.routed_address(data))
        created = epoch_seconds(str(data.get("Created", "")))
        argv = [str(data.get("Path") or ""), *(str(a) for a in data.get("Args") or ())]
        info = dataclasses.replace(
            info,
            created=None if math.isinf(created) else created,
            command=" ".join(a for a in argv if a),  # as the engine lists it
        )
        if state.get("Status") == "created" and seconds_since(str(data.get("Created", ""))) < self._timeout:
            info = dataclasses.replace(info, starting=True)  # created by a start that is still within its deadline
        return info

    @hookimpl
    def oblako_exec(
        self,
        name: str,
        command: tuple[str, ...],
        environment: Mapping[str, str],
        working_dir: str | None,
        user: str | None,
        output: Callable[[bytes], None],
        timeout: float | None,
    ) -> int:
        container = self._exact_id(name)
        if container is None:
            raise OblakoBackendError(f"no container {name!r} on {self.runtime}; start it first")
        what = f"run a command in {name!r}"
        with self._requests(what):
            made = self.api.exec_create(
                container,
                list(command),
                environment=dict(environment) or None,  # in the request body, never in an argv
                workdir=working_dir,
                user=user or "",
            )
            stream = self.api.exec_start(made["Id"], socket=True)
        self._relay(stream, output, timeout, what)
        with self._requests(what):
            for _ in range(50):  # the code is set a moment after the stream ends
                done = self.api.exec_inspect(made["Id"])
                if not done.get("Running") and done.get("ExitCode") is not None:
                    return int(done["ExitCode"])
                time.sleep(0.02)
        raise OblakoBackendError(f"can't {what}: {self.runtime} never said how the command ended")

    @hookimpl
    def oblako_top(self, name: str) -> Processes:
        container = self._exact_id(name)
        try:
            if container is None:
                raise _Missing(name)
            with self._requests(f"list the processes of {name!r}"):
                found = self.api.top(container)
        except _Missing:
            raise OblakoBackendError(f"no container {name!r} on {self.runtime}") from None
        titles = tuple(str(t).strip() for t in found.get("Titles") or ())
        return Processes(titles, tuple(tuple(str(v).strip() for v in row) for row in found.get("Processes") or ()))

    def _relay(self, stream: Any, output: Callable[[bytes], None], timeout: float | None, what: str) -> None:
        """Pass an exec's multiplexed output on until it ends; `timeout` bounds the whole run."""
        from docker.utils.socket import frames_iter

        raw = getattr(stream, "_sock", stream)
        end = None if timeout is None else time.monotonic() + timeout
        try:
            raw.settimeout(timeout)
            for _, chunk in frames_iter(stream, tty=False):
                if chunk:
                    output(chunk)
                if end is not None:
                    raw.settimeout(max(0.01, end - time.monotonic()))
        except TimeoutError:
            why = f"{what}: no end within {timeout:g} s (it may still run)"
            raise RuntimeUnavailableError(self.runtime, [(self._where(), why)], self.start_hint) from None
        finally:
            with suppress(OSError):
                stream.close()

    def routed_address(self, data: Mapping[str, Any]) -> str:
        """The container's IPv4 address on a network whose gateway is this machine (see
        `gateway_is_the_host`), so that readiness can connect to it directly; "" elsewhere
        (an engine in a VM or on another host, rootless Podman, a container beside the engine)."""
        if not self.url.startswith("unix://"):
            return ""
        routed = self.connection.routed
        for network in ((data.get("NetworkSettings") or {}).get("Networks") or {}).values():
            address, gateway = str(network.get("IPAddress") or ""), str(network.get("Gateway") or "")
            if address and gateway:
                if gateway not in routed:
                    try:
                        routed[gateway] = self.gateway_is_the_host(gateway) and _is_local_address(gateway)
                    except OblakoBackendError as exc:  # only a shortcut: the published port serves without it
                        log.debug("%s: not routing to containers directly: %s", self.runtime, exc)
                        routed[gateway] = False
                if routed[gateway]:
                    return address
        return ""

    def healthcheck(self, health: HealthCommand | None) -> dict[str, Any] | None:
        """The Engine API's Healthcheck for `health` (durations in nanoseconds)."""
        if health is None:
            return None
        return {
            "test": self.health_test(health.command),
            "interval": int(health.interval * NANOSECONDS),
            "timeout": int(health.timeout * NANOSECONDS),
            "retries": health.retries,
            "start_period": int(health.start_period * NANOSECONDS),
        }

    def health_test(self, command: tuple[str, ...]) -> list[str]:
        """The Healthcheck's Test for an argv: run as it is, no shell needed."""
        return ["CMD", *command]

    def health(self, data: Mapping[str, Any]) -> Health | None:
        """The health verdict in an inspect answer, when the container has a check."""
        status = str(((data.get("State") or {}).get("Health") or {}).get("Status") or "")
        return HEALTH_STATUS.get(status) if (data.get("Config") or {}).get("Healthcheck") else None

    def _info(
        self,
        name: str,
        running: bool,
        image: str | None,
        labels: Mapping[str, str] | None,
        ports: list[PublishedPort],
        health: Health | None = None,
        created: float | None = None,
        command: str = "",
        container_id: str = "",
    ) -> ContainerInfo:
        """One ContainerInfo from either of the engine's shapes (inspect or list)."""
        return ContainerInfo(
            name=str(name).lstrip("/"),
            state=State.RUNNING if running else State.STOPPED,
            image=str(image or ""),
            labels=dict(labels or {}),
            ports=tuple(sorted(ports, key=lambda p: (p.container_port, p.protocol, p.host_ip))),
            backend=self.runtime,
            health=health if running else None,
            engine_host=self.engine_host if ports else "",
            created=created,
            command=command,
            id=container_id,
        )

    # -- named volumes ----------------------------------------------------------------------

    @hookimpl
    def oblako_create_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.oblako_volume_labels(name) is not None:
            return False  # someone's already: left exactly as it is
        with self._requests(f"create volume {name!r}"):
            self.api.create_volume(name, labels=dict(labels))
        return True

    @hookimpl
    def oblako_volume_labels(self, name: str) -> Mapping[str, str] | None:
        try:
            with self._requests(f"inspect volume {name!r}"):
                found = self.api.inspect_volume(name)
        except _Missing:
            return None
        return dict(found.get("Labels") or {})

    @hookimpl
    def oblako_remove_volume(self, name: str) -> None:
        try:
            with self._requests(f"remove volume {name!r}"):
                self.api.remove_volume(name)
        except _Missing:
            pass

    # -- project networks -------------------------------------------------------------------
    # Docker Engine does not refuse a second network of one name when two are created at once
    # (two `up`s of one project), and then starts no container on either. On one host the
    # creates take turns (host_lock); across hosts every use goes by ID, the first-created
    # network of the name wins, and a creator that lost removes its own.

    def _networks_named(self, name: str) -> list[Mapping[str, Any]]:
        """The networks called exactly `name`, the first created first."""
        with self._requests(f"look up network {name!r}"):
            found = self.api.networks(names=[name])
        exact = [n for n in found if n.get("Name") == name]  # the filter also matches parts of names
        return sorted(exact, key=lambda n: (epoch_seconds(str(n.get("Created", ""))), str(n.get("Id"))))

    def network_id(self, name: str) -> str:
        """The ID of the network `name` (the winner, if a race made two), looked up once per connection."""
        known = self.connection.network_ids
        if name not in known:
            found = self._networks_named(name)
            if not found:
                raise OblakoBackendError(f"no network named {name!r} on {self.runtime}; `up` creates it")
            known[name] = str(found[0]["Id"])
        return known[name]

    # A network the engine makes takes a subnet of its default address pools' size: a /24 (253
    # containers) on Podman and on a Docker Engine configured so. Podman's is the engine's own
    # choice, so a project larger than that gets a larger subnet of the same range; on Docker
    # Engine the size is the administrator's (daemon.json default-address-pools), so it is kept
    # and `up` refuses a project the network cannot hold, saying what to do.
    sizes_networks = False

    @hookimpl
    def oblako_create_network(
        self,
        name: str,
        labels: Mapping[str, str],
        containers: int,
        driver: str | None,
        internal: bool,
        subnets: tuple[str, ...],
    ) -> bool:
        from . import host_lock  # only `up` creates networks: `ps` and the rest never load it

        with host_lock.held(f"{self.url} network {name}", self._timeout):
            return self._create_network(name, labels, containers, driver, internal, subnets)

    def _create_network(
        self,
        name: str,
        labels: Mapping[str, str],
        containers: int = 0,
        driver: str | None = None,
        internal: bool = False,
        subnets: tuple[str, ...] = (),
    ) -> bool:
        if self._networks_named(name):
            return False
        made = network_options(driver, internal, subnets)
        try:
            with self._requests(f"create network {name!r}"):
                mine = str(self.api.create_network(name, labels=dict(labels), **made)["Id"])
        except OblakoBackendError:
            if self._networks_named(name):  # Podman refuses a second network of one name: a concurrent start won
                return False
            raise
        if str(self._networks_named(name)[0]["Id"]) == mine:  # Docker makes both: the first created wins
            if self.sizes_networks and containers and not subnets and made["driver"] == "bridge":
                self._make_room(name, labels, containers, mine)
            return True
        with self._requests(f"remove the network {name!r} a concurrent start also made"):
            self.api.remove_network(mine)
        return False

    def _make_room(self, name: str, labels: Mapping[str, str], containers: int, mine: str) -> None:
        """Make the network `name` just created (`mine`) again on a subnet that holds `containers`,
        when the one the engine chose is smaller: the smallest that does, in the /16 (or the
        block) around the engine's choice, overlapping no other network. The engine checks
        overlaps too (with the host's routes); each refused subnet is passed over. When none
        is taken, the network is made as the engine makes it, and `up` refuses what it cannot hold."""
        with self._requests(f"inspect network {name!r}"):
            room = capacity(self.api.inspect_network(mine))
        if room is None or room.addresses >= containers:
            return
        prefix = next(
            p for p in range(30, 0, -1) if usable_addresses(ipaddress.ip_network(f"10.0.0.0/{p}")) >= containers
        )
        chosen = ipaddress.ip_network(room.subnet)
        block = chosen.supernet(new_prefix=min(16, prefix)) if chosen.prefixlen > min(16, prefix) else chosen
        with self._requests("list networks"):
            taken = [
                ipaddress.ip_network(str(config.get("Subnet")), strict=False)
                for network in self.api.networks()
                if network.get("Id") != mine
                for config in (network.get("IPAM") or {}).get("Config") or []
                if config.get("Subnet")
            ]
        free = [c for c in block.subnets(new_prefix=prefix) if not any(c.overlaps(t) for t in taken)]
        with self._requests(f"remove network {name!r} to make it larger"):
            self.api.remove_network(mine)
        from docker.types import IPAMConfig, IPAMPool

        for subnet in free[:8]:
            try:
                with self._requests(f"create network {name!r} on {subnet}"):
                    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))])
                    self.api.create_network(name, driver="bridge", labels=dict(labels), ipam=ipam)
                log.debug("%s: network %s on %s, for %d containers", self.runtime, name, subnet, containers)
                return
            except OblakoBackendError as exc:
                if self._networks_named(name):  # a concurrent start made it meanwhile
                    return
                log.debug("%s: %s refused for %s: %s", self.runtime, subnet, name, exc)
        with self._requests(f"create network {name!r}"):
            self.api.create_network(name, driver="bridge", labels=dict(labels))

    @hookimpl
    def oblako_network_capacity(self, name: str) -> NetworkCapacity | None:
        found = self._networks_named(name)
        if not found:
            return None
        try:
            with self._requests(f"inspect network {name!r}"):
                return capacity(self.api.inspect_network(found[0]["Id"]))
        except _Missing:
            return None

    @hookimpl
    def oblako_network_labels(self, name: str) -> Mapping[str, str] | None:
        found = self._networks_named(name)
        return dict(found[0].get("Labels") or {}) if found else None

    @hookimpl
    def oblako_remove_network(self, name: str) -> None:
        for network in self._networks_named(name):
            if (network.get("Labels") or {}).get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
                continue
            try:
                with self._requests(f"remove network {name!r}"):
                    self.api.remove_network(network["Id"])
            except _Missing:
                pass
            except OblakoBackendError as exc:
                if "active endpoints" not in str(exc) or not self._forget_stale_endpoints(name, network["Id"]):
                    raise
                with self._requests(f"remove network {name!r}"):
                    self.api.remove_network(network["Id"])
        self.connection.network_ids.pop(name, None)

    def _forget_stale_endpoints(self, name: str, network: str) -> bool:
        """Docker Engine may keep the endpoint of a container removed while many others were (seen
        at 500 services), and then refuses to remove the network for "active endpoints". Disconnect
        (forced, as `docker network disconnect -f` does) each endpoint whose container is gone;
        True when there were some and no live container is attached: the removal is worth a retry."""
        with self._requests(f"inspect network {name!r}"):
            attached = dict(self.api.inspect_network(network).get("Containers") or {})
        stale: list[str] = []
        for container, endpoint in attached.items():
            try:
                with self._requests(f"inspect container {container[:12]}"):
                    self.api.inspect_container(container)
                return False  # a container that still exists: the engine is right
            except _Missing:
                stale.append(str(endpoint.get("Name") or container))
        for endpoint_name in stale:
            log.debug("%s: network %s: disconnecting the stale endpoint %s", self.runtime, name, endpoint_name)
            with suppress(_Missing), self._requests(f"disconnect stale endpoint {endpoint_name!r} from {name!r}"):
                self.api.disconnect_container_from_network(endpoint_name, network, force=True)
        return bool(stale)

    @hookimpl
    def oblako_list(self) -> list[ContainerInfo]:
        with self._requests("list containers"):
            found = self.api.containers(all=True, filters={"label": f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"})
        return [
            self._info(
                (c.get("Names") or ["/?"])[0],
                c.get("State") == "running",
                c.get("Image"),
                c.get("Labels"),
                [
                    PublishedPort(p["PrivatePort"], p.get("Type", "tcp"), p.get("IP", ""), p["PublicPort"])
                    for p in c.get("Ports") or []
                    if p.get("PublicPort")
                ],
                listed_health(str(c.get("Status") or "")),
                created=float(c["Created"]) if isinstance(c.get("Created"), (int, float)) else None,
                command=str(c.get("Command") or ""),
                container_id=str(c.get("Id") or ""),
            )
            for c in found
        ]

    @hookimpl
    def oblako_logs(self, name: str, tail: int, since: float | None, until: float | None, timestamps: bool) -> str:
        container = self._exact_id(name) if tail else None
        if container is None:
            return ""
        window = self.log_window(since, until, timestamps)
        try:
            with self._requests(f"read logs of {name!r}"):
                raw = self.api.logs(container, stdout=True, stderr=True, tail=tail, **window)
        except _Missing:
            return ""
        return bytes(raw).decode("utf-8", "replace")

    @hookimpl
    def oblako_follow_logs(
        self, name: str, tail: int, since: float | None, until: float | None, timestamps: bool
    ) -> LogStream:
        container = self._exact_id(name)
        window = self.log_window(since, until, timestamps)
        try:
            if container is None:
                raise _Missing(name)
            with self._requests(f"follow logs of {name!r}"):
                stream = self.api.logs(
                    container, stdout=True, stderr=True, stream=True, follow=True, tail=tail, **window
                )
        except _Missing:
            raise OblakoBackendError(f"no container named {name!r} to follow on {self.runtime}") from None
        return _Follow(self, name, stream).stream()

    def log_window(self, since: float | None, until: float | None, timestamps: bool) -> dict[str, Any]:
        """The Engine API's since, until (Unix seconds; 0 would mean "no bound") and timestamps."""
        window: dict[str, Any] = {"timestamps": timestamps}
        if since is not None:
            window["since"] = max(since, 1.0)
        if until is not None:
            window["until"] = max(until, 1.0)
        return window

    def answers(self, timeout: float) -> str | None:
        """Why the engine does not answer /_ping within `timeout` s, or None when it does."""
        try:
            ping(self.api, timeout).raise_for_status()
        except Exception as exc:  # any failure means "not answering"; the reason is reported
            return reason(exc)
        return None

    @hookimpl
    def oblako_stop(self, name: str, timeout: float, container_id: str) -> None:
        container = container_id or self._exact_id(name)  # the ID the core checked: no second look-up
        if container is None:
            return
        try:
            with self._requests(f"stop container {name!r}"):
                self.api.stop(container, timeout=max(0, math.ceil(timeout)))
        except _Missing:
            return
        self._remove(container, name)

    @hookimpl
    def oblako_remove(self, name: str) -> None:
        container = self._exact_id(name)
        if container is not None:
            self._remove(container, name)

    def _remove(self, container: str, name: str) -> None:
        """Remove by ID: the one container that was found under exactly `name`."""
        try:
            with self._requests(f"remove container {name!r}"):
                self.api.remove_container(container, force=True)
        except _Missing:
            pass
        except OblakoBackendError as exc:
            if "already in progress" not in str(exc):
                raise

    # -- the runtime -----------------------------------------------------------------------

    @hookimpl
    def oblako_probe(self, timeout: float) -> Probe:
        try:
            found, engine, client = self._find_engine(timeout, in_full=True)
            client.close()
        except RuntimeUnavailableError as exc:
            tried = "; ".join(f"{where}: {why}" for where, why in exc.tried)
            return Probe(self.runtime, False, error=tried or "no endpoint to try", hint=self.start_hint)
        except ConfigurationError:
            raise  # a bad DOCKER_HOST or DOCKER_CONTEXT is the user's setting to fix, not an absent engine
        except OblakoBackendError as exc:
            return Probe(self.runtime, False, error=str(exc), hint=self.start_hint)
        return Probe(
            backend=self.runtime,
            reachable=True,
            endpoint=found.url,
            endpoint_source=found.source,
            engine=engine.name,
            version=engine.version,
            capabilities=self.capabilities,
            details={
                "api version": engine.api_version,
                "platform": engine.platform,
                "ports listen on": self._listening_or_why(),
                **self._remote_warning(),
            },
        )

    @property
    def engine_host(self) -> str:
        """Where this engine's published ports are, seen from here, when not on this machine
        ("" when they are): the host of a tcp:// or ssh:// engine, or, from a container beside
        the engine, the engine's bridge gateway (see beside_the_engine)."""
        connection = self.connection
        if connection.engine_host is None:
            connection.engine_host = endpoints.remote_host(self.url, _is_local_address) or self.beside_the_engine()
        return connection.engine_host

    def _remote_warning(self) -> dict[str, str]:
        """doctor's warning for an engine elsewhere whose ports would bind to its own loopback."""
        try:
            where = self.engine_host
        except OblakoBackendError:
            return {}
        loopback = all(a.startswith("127.") for a in self.bind_addresses(None))
        if not where or not loopback:
            return {}
        return {
            "warning": f"the engine is not on this machine ({where}), and ports are published on its loopback, "
            f"so they are unreachable from here: set OBLAKO_BIND_ADDRESS=0.0.0.0 (or an address of {where})"
        }

    def _listening_or_why(self) -> str:
        try:
            return self.listening()
        except OblakoBackendError as exc:
            return f"unknown ({str(exc).splitlines()[0]})"

    @hookimpl
    def oblako_docker_client(self) -> Any:
        import docker

        connection = self.connection
        with self._lock:
            if connection.client is None:
                connection.client = docker.DockerClient(
                    base_url=connection.endpoint.url,
                    version=connection.api.api_version,
                    timeout=self._timeout,
                    tls=connection.endpoint.tls,
                )
                # Containers started on it directly (oblako's compute paths) publish where ours
                # do: oblako_backends.compat.publish() asks the client this.
                connection.client.oblako_bind_addresses = self.bind_addresses
            return connection.client


class _Follow:
    """A followed log stream that ends with `RuntimeUnavailableError`, not silence, when the
    engine wedges or dies.

    A quiet container and a frozen engine look the same on the stream's socket, so a watchdog
    pings the engine while the stream is open; a ping that fails closes the stream and the
    reader gets the error. A stream that ends is checked the same way: the engine may have
    died (kill -9) rather than the container having exited.
    """

    def __init__(self, plugin: DockerPlugin, name: str, stream: Any):
        self.plugin, self.name, self.raw = plugin, name, stream
        self.failure: str | None = None
        self.closed = threading.Event()
        self.period = min(2.0, plugin._timeout / 4)  # detection within period + ping deadline < OBLAKO_TIMEOUT
        self.ping_deadline = plugin._timeout / 2

    def stream(self) -> LogStream:
        threading.Thread(target=self._watch, daemon=True, name=f"oblako-follow-{self.name}").start()
        return LogStream(self._chunks(), self._close)

    def _close(self) -> None:
        self.closed.set()
        with suppress(Exception):
            self.raw.close()

    def _watch(self) -> None:
        while not self.closed.wait(self.period):
            why = self.plugin.answers(self.ping_deadline)
            if why is not None and not self.closed.is_set():
                self.failure = why
                self._close()
                return

    def _chunks(self) -> Iterator[bytes]:
        try:
            yield from self.raw
        except Exception as exc:
            if self.failure is None and not self.closed.is_set():
                self.failure = reason(exc)
        if self.failure is None and not self.closed.is_set():
            self.failure = self.plugin.answers(self.ping_deadline)  # ended: exited, or engine gone?
        self.closed.set()
        if self.failure is not None:
            self.plugin._reset()
            why = f"while following logs of {self.name!r}: {self.failure}"
            raise RuntimeUnavailableError(self.plugin.runtime, [(self.plugin._where(), why)], self.plugin.start_hint)


def _is_local_address(address: str) -> bool:
    """Can this machine bind `address`? (Only its own addresses can be.)"""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True
