"""Pure conversions between the Engine API's shapes and the core's: no I/O, no connection.

What the plugin reads from the engine (health words, networks' address room, which engine
answered, why a call failed) and what it writes (a Healthcheck) are made here, so each is
one function to test with the engine's real answers.
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import math
import re
import tarfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oblako_backends import Health
from oblako_backends.models import NetworkCapacity

if TYPE_CHECKING:  # named in signatures only
    from oblako_backends import ContainerSpec, NetworkAttachment
    from oblako_backends.options import FileSpec

HEALTH_STATUS = {  # the Engine API's health words (Podman's too)
    "starting": Health.STARTING,
    "healthy": Health.HEALTHY,
    "unhealthy": Health.UNHEALTHY,
}
NANOSECONDS = 1_000_000_000


def listed_health(status: str) -> Health | None:
    """The health verdict in a listing's status ("Up 3 seconds (healthy)", "(health: starting)")."""
    found = re.search(r"\((healthy|unhealthy|health: starting)\)", status)
    return HEALTH_STATUS.get(found.group(1).removeprefix("health: ")) if found else None


def usable_addresses(subnet: Any, config: Mapping[str, Any] | None = None) -> int:
    """The addresses of an IPv4 `subnet` a container can get: those of its IPAM range (`config`'s
    IPRange, else the subnet) but the network's own, its broadcast and its gateway."""
    config = config or {}
    try:
        pool = ipaddress.ip_network(str(config["IPRange"]), strict=False) if config.get("IPRange") else subnet
        gateway = ipaddress.ip_address(str(config["Gateway"]).split("/")[0]) if config.get("Gateway") else None
    except ValueError:
        pool, gateway = subnet, None
    if subnet.prefixlen >= 31:
        return int(pool.num_addresses)
    reserved = {subnet.network_address, subnet.broadcast_address, gateway or subnet.network_address + 1}
    return int(pool.num_addresses) - sum(1 for address in reserved if address in pool)


def capacity(found: Mapping[str, Any]) -> NetworkCapacity | None:
    """What an inspected network can hold: its first IPv4 subnet's addresses for containers, and
    the containers attached now. None when it has no IPv4 subnet (no limit this layer knows)."""
    attached = tuple(sorted(str(c.get("Name") or "") for c in (found.get("Containers") or {}).values()))
    for config in (found.get("IPAM") or {}).get("Config") or []:
        try:
            subnet = ipaddress.ip_network(str(config.get("Subnet")), strict=False)
        except ValueError:
            continue
        if subnet.version == 4:
            return NetworkCapacity(str(subnet), usable_addresses(subnet, config), attached)
    return None


@dataclasses.dataclass(frozen=True)
class Engine:
    """Which engine answered at an endpoint."""

    name: str  # "Docker Engine", "Podman Engine", or a platform's own name such as Docker Desktop's
    version: str
    api_version: str
    platform: str = ""  # "linux/amd64"; only /version says


def engine_from_version(answer: Mapping[str, Any]) -> Engine:
    """From /version (Podman's compat API names itself in Components)."""
    names = [str(c.get("Name", "")) for c in answer.get("Components") or []]
    platform = str((answer.get("Platform") or {}).get("Name", ""))
    name = "Podman Engine" if any("podman" in n.lower() for n in names) else platform or "Docker Engine"
    where = f"{answer.get('Os', '')}/{answer.get('Arch', '')}"
    return Engine(name, str(answer.get("Version", "")), str(answer.get("ApiVersion", "")), where)


def reason(exc: BaseException) -> str:
    """A one-line reason from a connection failure, without urllib3's nesting."""
    text = str(exc)
    for marker in (
        "Connection refused",
        "No such file or directory",
        "Read timed out",
        "timed out",
        "Permission denied",
        "Connection aborted",
        "Connection reset",
    ):
        if marker.lower() in text.lower():
            return marker.lower() if marker != "No such file or directory" else "no such socket"
    return text.splitlines()[0][:300] if text else type(exc).__name__


def restart_policy(restart: str | None) -> dict[str, Any] | None:
    """Compose's `restart` as the Engine API's RestartPolicy ("on-failure:3" keeps its count)."""
    if restart is None:
        return None
    name, _, count = restart.partition(":")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def host_options(spec: ContainerSpec) -> dict[str, Any]:
    """`create_host_config` keywords for the spec's Compose options; only those given, so a
    spec without them asks the engine for exactly what it did before."""
    from docker.types import Ulimit  # docker-py: loaded with the client, never at import

    given: dict[str, Any] = {
        "tmpfs": dict(spec.tmpfs),
        "init": spec.init,
        "restart_policy": restart_policy(spec.restart),
        "dns": list(spec.dns),
        "dns_search": list(spec.dns_search),
        "cap_add": list(spec.cap_add),
        "cap_drop": list(spec.cap_drop),
        "privileged": spec.privileged,
        "security_opt": list(spec.security_opt),
        "read_only": spec.read_only,
        "shm_size": spec.shm_size,
        "mem_limit": spec.mem_limit,
        "mem_reservation": spec.mem_reservation,
        "nano_cpus": None if spec.cpus is None else round(spec.cpus * NANOSECONDS),
        "pids_limit": spec.pids_limit,
        "ulimits": [Ulimit(name=k, soft=soft, hard=hard) for k, (soft, hard) in spec.ulimits.items()],
        "sysctls": dict(spec.sysctls),
        "devices": list(spec.devices),
    }
    return {k: v for k, v in given.items() if v not in (None, False, [], {})}


def container_options(spec: ContainerSpec) -> dict[str, Any]:
    """`create_container` keywords for the spec's Compose options, only those given."""
    given: dict[str, Any] = {
        "hostname": spec.hostname,
        "domainname": spec.domainname,
        "stdin_open": spec.stdin_open,
        "tty": spec.tty,
        "stop_signal": spec.stop_signal,
        "stop_timeout": None if spec.stop_grace_period is None else math.ceil(spec.stop_grace_period),
        "platform": spec.platform,
    }
    return {k: v for k, v in given.items() if v not in (None, False)}


def endpoint_options(attached: NetworkAttachment) -> dict[str, Any]:
    """`create_endpoint_config` / `connect_container_to_network` keywords for one network: its
    aliases, and the fixed IPv4 address (the engine's IPAMConfig) when one is asked for."""
    given: dict[str, Any] = {"aliases": list(attached.aliases), "ipv4_address": attached.ipv4_address}
    return {k: v for k, v in given.items() if v}


def network_options(driver: str | None, internal: bool, subnets: tuple[str, ...]) -> dict[str, Any]:
    """`create_network` keywords: the driver (bridge unless named), internal, and an IPAM config
    of the subnets (IPv6 enabled when one is IPv6), only those given."""
    from docker.types import IPAMConfig, IPAMPool  # docker-py: loaded with the client, never at import

    made: dict[str, Any] = {"driver": driver or "bridge"}
    if internal:
        made["internal"] = True
    if subnets:
        made["ipam"] = IPAMConfig(pool_configs=[IPAMPool(subnet=s) for s in subnets])
        if any(":" in s for s in subnets):
            made["enable_ipv6"] = True
    return made


def exposed_ports(spec: ContainerSpec) -> list[tuple[int, str]]:
    """The ports the image's container exposes: those published, then `expose`'s (one each)."""
    ports = [(p.container_port, p.protocol) for p in spec.ports]
    for entry in spec.expose:
        number, _, protocol = entry.partition("/")
        port = (int(number), protocol or "tcp")
        if port not in ports:
            ports.append(port)
    return ports


def files_archive(files: tuple[FileSpec, ...]) -> bytes:
    """A tar of `files` at their targets (parents as directories), owned by root, each with its
    mode: what the engine unpacks at / before the container starts."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        made: set[str] = set()
        for file in files:
            parts = file.target.strip("/").split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in made:
                    made.add(parent)
                    directory = tarfile.TarInfo(parent)
                    directory.type, directory.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(directory)
            entry = tarfile.TarInfo("/".join(parts))
            entry.size, entry.mode = len(file.content), file.mode
            tar.addfile(entry, io.BytesIO(file.content))
    return buffer.getvalue()
