"""Recognising what an engine meant from how it worded it (Docker Engine and Podman differ)."""

from __future__ import annotations

import re

# Every wording of "that host port is taken" seen from Docker Engine and Podman, e.g.
#   Bind for 127.0.0.1:8001 failed: port is already allocated
#   ... listen tcp4 127.0.0.1:8001: bind: address already in use
#   rootlessport listen tcp 0.0.0.0:8001: bind: address already in use
#   cannot listen on the TCP port: listen tcp4 :8001: bind: address already in use
_PORT_TAKEN = ("port is already allocated", "address already in use", "port already in use")
_PORT_NUMBER = (
    re.compile(r"Bind for \[?[0-9a-fA-F.:]*\]?:(\d+) failed"),
    re.compile(r"listen (?:tcp|udp|sctp)[46]? \[?[0-9a-fA-F.:]*\]?:(\d+)"),
    re.compile(r":(\d+): bind"),
)
_IMAGE_MISSING = (
    "no such image",
    "manifest unknown",
    "not found: manifest",
    "repository does not exist",
    "pull access denied",
    "image not known",
    "failed to resolve reference",
    "name unknown",
)


def port_in_use(message: str) -> tuple[bool, int | None]:
    """(is it a port conflict?, the port when the engine named it)."""
    lowered = message.lower()
    if not any(text in lowered for text in _PORT_TAKEN):
        return False, None
    for pattern in _PORT_NUMBER:
        match = pattern.search(message)
        if match:
            return True, int(match.group(1))
    return True, None


def name_in_use(message: str) -> bool:
    """Did create fail because a container of that name exists? Docker Engine:
    'Conflict. The container name "/x" is already in use by container "<id>"'; Podman:
    'creating container storage: the container name "x" is already in use by <id>'."""
    return "is already in use by" in message and "container name" in message


def image_missing(message: str) -> bool:
    """Does the engine say the image does not exist (locally or in the registry)?"""
    lowered = message.lower()
    return any(text in lowered for text in _IMAGE_MISSING)


# Docker:       exec: "nope": executable file not found in $PATH
# Podman runc:  runc create failed: ... exec: "nope": executable file not found in $PATH
# Podman crun:  crun: executable file not found in $PATH: No such file or directory
_EXEC_NAME = re.compile(r'exec: "([^"]+)"')


def command_missing(message: str) -> str | None:
    """The executable the engine could not find in the image ("" when unnamed), else None."""
    if "executable file not found" not in message.lower():
        return None
    match = _EXEC_NAME.search(message)
    return match.group(1) if match else ""


def init_missing(message: str) -> bool:
    """Does the engine lack the init binary `init: true` runs? Podman: 'container-init binary
    not found on the host: stat /usr/libexec/podman/catatonit: no such file or directory'."""
    return "init binary not found" in message.lower()
