"""Podman through its Docker-compatible API: the docker backend with Podman's differences.

What differs: where the socket is (`endpoint.candidates`), that the engine behind it must
really be Podman, and host access. Podman names the host `host.containers.internal`; before
Podman 5 it wrote `host-gateway` into /etc/hosts literally, so it is rewritten here to the
address Podman itself uses for the host (the gateway of the container's network).
"""

from __future__ import annotations

import shlex
import sys
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oblako_backend_docker import DockerPlugin, Endpoint
from oblako_backend_docker.convert import Engine
from oblako_backends import Health, OblakoBackendError, config as core_config, hookimpl
from oblako_backends.models import Processes, seconds_since

from . import endpoints, top

if TYPE_CHECKING:  # named in signatures only
    from oblako_backends import ContainerSpec


# What rootless Podman on cgroups v1 drops without a word (memory, CPU and process limits, and,
# as measured on this project's machines, ulimits too): refused there rather than ignored.
LIMIT_FIELDS = ("mem_limit", "mem_reservation", "cpus", "pids_limit", "ulimits")


class PodmanPlugin(DockerPlugin):
    """Containers on Podman's Docker-compatible API service."""

    runtime = "podman"
    capabilities = DockerPlugin.capabilities  # top through Podman's own API (see oblako_top)
    sizes_networks = True  # its default subnets (/24) are its own choice: a larger project gets a larger one
    _host_lock = threading.Lock()  # one /libpod/info request at a time (see _host)
    start_hint = (
        "Start Podman's API service: `systemctl --user start podman.socket`, or "
        "`podman system service --time=0` (as root for the rootful socket); on macOS "
        "`podman machine start`. Or point CONTAINER_HOST at its socket."
    )

    def candidates(self) -> list[Endpoint]:
        return endpoints.candidates(self._base_url, timeout=core_config.probe_timeout())

    def check_engine(self, engine: Engine, found: Endpoint) -> str | None:
        if engine.name == "Podman Engine":
            return None
        if found.source == "DOCKER_HOST":  # DOCKER_HOST wins for every Docker-API runtime: say so, don't refuse
            warnings.warn(
                f"OBLAKO_CONTAINER_BACKEND=podman, but DOCKER_HOST ({found.url}) is {engine.name} "
                f"{engine.version}; using it, since DOCKER_HOST wins. Unset DOCKER_HOST (or set "
                "CONTAINER_HOST) to use Podman",
                UserWarning,
                stacklevel=2,
            )
            return None
        return (
            f"the engine there is {engine.name} {engine.version}, not Podman (a podman-docker shim "
            "or a DOCKER_HOST pointing at Docker?); point CONTAINER_HOST at Podman's socket, or use "
            "OBLAKO_CONTAINER_BACKEND=docker for that engine"
        )

    def beside_the_engine(self) -> str:
        # Podman makes its bridge with the first container, so an address missing here does not
        # tell a container beside the engine: not told apart (OBLAKO_BIND_ADDRESS serves there).
        return ""

    def gateway_is_the_host(self, gateway: str) -> bool:
        # Podman creates its bridge with the first container, so the address may not exist yet.
        # Rootful Podman on this Linux machine routes its gateway to the host; rootless Podman
        # and a Podman machine (a VM) reach the host another way.
        local = self.url.startswith("unix://")
        if sys.platform != "linux" or not local:
            return False
        return not self.rootless()

    def _host(self) -> Mapping[str, Any]:
        """Podman's own /libpod/info `host` part (the Docker-compatible /info lacks what is
        asked here: Podman 4.3 lists only seccomp there), read once per connection: Podman
        gathers it slowly (it asks its OCI runtime and storage), so concurrent callers wait for
        one answer, under the ordinary call deadline. An engine without it (Docker at DOCKER_HOST,
        used with a warning) has none of Podman's ways: an empty part."""
        connection = self.connection
        with self._host_lock:
            if connection.libpod_host is None:
                with self._requests("ask Podman how it runs"):
                    answer = self.api._get(self.api._url("/libpod/info"), timeout=core_config.call_timeout())
                    if answer.status_code == 404:  # not Podman (DOCKER_HOST wins): no libpod part to read
                        connection.libpod_host = {}
                        return connection.libpod_host
                    self.api._raise_for_status(answer)
                connection.libpod_host = dict(answer.json().get("host") or {})
        return connection.libpod_host

    @hookimpl
    def oblako_top(self, name: str) -> Processes:
        """Docker's columns (UID PID PPID C STIME TTY TIME CMD), from Podman's own top.

        Its Docker-compatible top runs `ps -ef` in the container, so the image's ps answers:
        with busybox's, Podman 4.3 gave one title, "PID   USER     COMMAND", and rows unsplit
        (no command column; measured). Podman's libpod endpoint
        takes ps descriptors instead, which Podman reads from /proc itself, for every image
        (`top.DESCRIPTORS`, renamed and reformatted by `top.as_docker`). PID and PPID are as
        the container sees them (Podman's own top; Docker's top shows the host's)."""
        container = self._exact_id(name)
        if container is None:
            raise OblakoBackendError(f"no container {name!r} on {self.runtime}")
        with self._requests(f"list the processes of {name!r}"):
            url = self.api._url("/libpod/containers/{0}/top", container)
            answer = self.api._get(url, params={"ps_args": top.DESCRIPTORS}, timeout=core_config.call_timeout())
            if answer.status_code == 404:
                raise OblakoBackendError(f"no container {name!r} on {self.runtime}")
            self.api._raise_for_status(answer)  # Podman's refusal (say, it just stopped) as the engine's error
            found = answer.json()
        return top.as_docker(found.get("Titles") or [], found.get("Processes") or [])

    def rootless(self) -> bool:
        """Does this Podman run rootless? Its own API says so (host.security.rootless)."""
        return bool((self._host().get("security") or {}).get("rootless"))

    def _create(self, spec: ContainerSpec) -> str:
        """Refuse limits rootless Podman on cgroups v1 would ignore, before creating (run or create)."""
        limits = sorted(f for f in LIMIT_FIELDS if f in spec.options_set())
        if limits:
            host = self._host()
            if (host.get("security") or {}).get("rootless") and host.get("cgroupVersion") == "v1":
                raise OblakoBackendError(
                    f"can't create container {spec.name!r}: rootless Podman on a cgroups v1 machine ignores "
                    f"resource limits ({', '.join(limits)}): Podman says so in its own logs and runs the "
                    "container without them. Leave them out, run Podman rootful, or use a cgroups v2 machine"
                )
        return super()._create(spec)

    def listening(self) -> str:
        said = super().listening()
        if core_config.explicit_bind_addresses() or not self.url.startswith("unix://") or not self.rootless():
            return said
        return (
            f"{said} (rootless Podman: there is no bridge gateway on this machine; containers reach the host "
            "as host.containers.internal, which Podman routes to this machine's other addresses, never to its "
            "loopback, so ports on 127.0.0.1 do not answer there. "
            "Services of one project reach each other by name; OBLAKO_BIND_ADDRESS=0.0.0.0 opens published "
            "ports to containers, and to the network)"
        )

    def health_test(self, command: tuple[str, ...]) -> list[str]:
        # Podman 4's compatible API splits CMD arguments again at spaces (["sh", "-c", "test -s f"]
        # runs `sh -c test -s f`), so an argv with such an argument goes through the shell, quoted.
        if any(not arg or any(c.isspace() for c in arg) for arg in command):
            return ["CMD-SHELL", shlex.join(command)]
        return super().health_test(command)

    def health(self, data: Mapping[str, Any]) -> Health | None:
        """Podman runs health checks from systemd timers; where there is no systemd (a CI
        container, WSL without it) they never run and a container stays "starting" for ever.
        So a check that is due (none yet, or the last one older than its interval) is run here,
        by Podman itself (`podman healthcheck run`, through its API), and its verdict returned."""
        verdict = super().health(data)
        if verdict is None or not (data.get("State") or {}).get("Running"):
            return verdict
        interval = float((data.get("Config") or {}).get("Healthcheck", {}).get("Interval") or 30e9) / 1e9
        log = ((data.get("State") or {}).get("Health") or {}).get("Log") or []
        if log and seconds_since(str(log[-1].get("End", ""))) < interval:
            return verdict
        with self._requests(f"run the health check of {data.get('Name', '?')!r}"):
            ran = self.api._get(self.api._url("/libpod/containers/{0}/healthcheck", data["Id"]))
            if ran.status_code != 200:  # e.g. it stopped meanwhile: the verdict the engine has stands
                return verdict
        # The run answers for itself alone; the container's status counts retries and start period.
        after = self._inspect_exact(str(data.get("Name", "")).lstrip("/"))
        return super().health(after) if after is not None else verdict

    def gateway_network(self, spec: ContainerSpec) -> str | None:
        # Podman makes a network's bridge with its first container, so only the container's own
        # network is sure to have its gateway address when the container starts.
        return spec.network

    def bind_addresses(self, host_port: int | None, network: str | None = None) -> tuple[str, ...]:
        # Podman 4 takes the Docker API's "0.0.0.0" literally: netavark writes a rule for the
        # destination 0.0.0.0/32, which nothing matches. Its "every address" is the empty string.
        return tuple("" if a == "0.0.0.0" else a for a in super().bind_addresses(host_port, network))

    def extra_hosts(self, spec: ContainerSpec) -> dict[str, str]:
        from oblako_backends.spec import HOST_GATEWAY  # here: `ps` and `list` never load the validators

        hosts = dict(spec.extra_hosts)
        if HOST_GATEWAY not in hosts.values():
            return hosts
        gateway = self.host_gateway(self.gateway_network(spec))
        if gateway is None:
            names = sorted(k for k, v in hosts.items() if v == HOST_GATEWAY)
            warnings.warn(
                f"this Podman has no host-gateway address on this machine (rootless, or in a VM), so {names} "
                "will not resolve; containers reach the host as host.containers.internal",
                UserWarning,
                stacklevel=2,
            )
            return {k: v for k, v in hosts.items() if v != HOST_GATEWAY}
        return {k: gateway if v == HOST_GATEWAY else v for k, v in hosts.items()}
