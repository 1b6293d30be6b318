"""Where a bridge network's gateway is, from what an engine says of it.

Engines disagree on how they report it: Podman, and Docker Engine for networks it makes on
request, put it in the network's IPAM `Gateway`; a stock Docker Engine's default bridge
lists only its subnet. Then the bridge interface the network names tells (on the engine's
own host), and failing that, where `host-gateway` leads in a container (plugin.py asks).
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
import tarfile
from collections.abc import Mapping
from io import BytesIO
from typing import Any

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
_SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def ipam_gateway(network: Mapping[str, Any]) -> str:
    """The first IPv4 `Gateway` in the network's IPAM configuration; "" when none is listed."""
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = str(config.get("Gateway") or "").split("/")[0]
        if gateway and ":" not in gateway:
            return gateway
    return ""


def interface_address(name: str) -> str:
    """The IPv4 address of this machine's interface `name`; "" when there is none (no such
    interface, no address, not Linux)."""
    if not name or len(name.encode()) >= 16:  # IFNAMSIZ
        return ""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()))
    except OSError:
        return ""
    return socket.inet_ntoa(answer[20:24])


def bridge_interface_gateway(network: Mapping[str, Any]) -> str:
    """The address of the bridge interface the network names, when this machine has it and it
    lies in one of the network's subnets (a bridge of the same name from another engine does
    not); ""otherwise."""
    name = str((network.get("Options") or {}).get(BRIDGE_NAME_OPTION) or "")
    address = interface_address(name)
    if not address:
        return ""
    subnets = [str(c.get("Subnet") or "") for c in (network.get("IPAM") or {}).get("Config") or []]
    networks = [ipaddress.ip_network(s, strict=False) for s in subnets if s and ":" not in s]
    if networks and not any(ipaddress.ip_address(address) in n for n in networks):
        return ""
    return address


def hosts_entry(archive: bytes, name: str) -> str:
    """The IPv4 address `name` has in the /etc/hosts inside `archive` (the tar the Engine API's
    archive endpoint answers with); "" when it has none."""
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        handle = tar.extractfile(member) if member else None
        text = handle.read().decode(errors="replace") if handle else ""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and name in fields[1:] and ":" not in fields[0]:
            return fields[0]
    return ""


def empty_image() -> bytes:
    """A root filesystem with nothing in it but /etc, as a tar: the image of the host-gateway
    probe, which must be importable on any engine without a registry and can run nothing."""
    data = BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        etc = tarfile.TarInfo("etc")
        etc.type, etc.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(etc)
    return data.getvalue()
