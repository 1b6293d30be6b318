"""Where Podman's Docker-compatible API is, in the order Podman's own tools look.

An explicit base URL, then CONTAINER_HOST or DOCKER_HOST (either names the only candidate),
then the socket `podman info` reports, then the rootless socket, then the rootful one, then
(macOS) the machine's socket from `podman machine inspect`. The CLI calls are bounded.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

from oblako_backend_docker.endpoints import Endpoint, first_of_each_url, named_by_user, unix
from oblako_backends.commands import answer

ROOTFUL_SOCKET = "/run/podman/podman.sock"


def candidates(
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 5.0,
    uid: int | None = None,
    platform: str = sys.platform,
) -> list[Endpoint]:
    """Every place Podman's API may answer, first choice first, without duplicates."""
    env = os.environ if env is None else env
    chosen = named_by_user(base_url, env, ("CONTAINER_HOST", "DOCKER_HOST"))
    if chosen is not None:
        return [chosen]
    found: list[Endpoint] = []
    reported = _podman_info_socket(env, timeout)
    if reported:
        found.append(Endpoint(reported, "`podman info` remote socket"))
    if env.get("XDG_RUNTIME_DIR", "").strip():
        found.append(Endpoint(unix(f"{env['XDG_RUNTIME_DIR'].rstrip('/')}/podman/podman.sock"), "rootless socket"))
    uid = os.getuid() if uid is None else uid
    found.append(Endpoint(unix(f"/run/user/{uid}/podman/podman.sock"), "rootless socket"))
    found.append(Endpoint(unix(ROOTFUL_SOCKET), "rootful socket"))
    if platform == "darwin":
        machine = _machine_socket(env, timeout)
        if machine:
            found.append(Endpoint(machine, "`podman machine inspect`"))
    return first_of_each_url(found)


def _as_url(path: str) -> str | None:
    path = path.strip()
    if not path:
        return None
    return path if "://" in path else unix(path)


def _podman_info_socket(env: Mapping[str, str], timeout: float) -> str | None:
    said = answer(["podman", "info", "--format", "{{.Host.RemoteSocket.Path}}"], timeout, env)
    return _as_url(said.stdout) if said.stdout else None


def _machine_socket(env: Mapping[str, str], timeout: float) -> str | None:
    said = answer(["podman", "machine", "inspect"], timeout, env)
    try:
        machines = json.loads(said.stdout or "[]")
        path = machines[0]["ConnectionInfo"]["PodmanSocket"]["Path"]
    except (ValueError, LookupError, TypeError):
        return None
    return _as_url(str(path))
