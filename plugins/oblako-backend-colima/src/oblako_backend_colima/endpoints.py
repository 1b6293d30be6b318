"""Where Colima's Docker socket is: `<base>/<profile>/docker.sock`, as Colima lays it out.

An explicit base URL, then DOCKER_HOST (it wins for every Docker-API runtime), then what
`colima status --json` reports (bounded; only when colima is on PATH), then the socket under
each possible base directory (COLIMA_HOME; else ~/.colima, then $XDG_CONFIG_HOME/colima or
~/.config/colima), then the legacy ~/.colima/docker.sock of Colima 0.3.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from oblako_backend_docker.endpoints import Endpoint, first_of_each_url, named_by_user, unix
from oblako_backends import ConfigurationError
from oblako_backends.commands import answer

PROFILE_VAR = "COLIMA_PROFILE"
_PROFILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def profile(env: Mapping[str, str]) -> str:
    """The profile's directory name, as Colima derives it ("", colima, default → default)."""
    raw = env.get(PROFILE_VAR, "").strip()
    if raw in ("", "colima", "default"):
        return "default"
    short = raw.removeprefix("colima-")
    if not _PROFILE_RE.fullmatch(short):
        raise ConfigurationError(
            f"{PROFILE_VAR}={raw!r} is not a Colima profile name: use letters, digits, '.', '_' or '-' "
            "(as in `colima start --profile NAME`)"
        )
    return short


def base_dirs(env: Mapping[str, str]) -> list[tuple[Path, str]]:
    """(directory, where it came from) for each place Colima may keep its profiles."""
    if env.get("COLIMA_HOME", "").strip():
        return [(Path(env["COLIMA_HOME"].strip()).expanduser(), "COLIMA_HOME")]
    home = Path(env.get("HOME") or Path.home())
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    return [
        (home / ".colima", "~/.colima"),
        (Path(xdg) / "colima" if xdg else home / ".config" / "colima", "XDG config directory"),
    ]


def candidates(
    base_url: str | None = None, env: Mapping[str, str] | None = None, timeout: float = 5.0
) -> list[Endpoint]:
    """Every place Colima's Docker API may answer, first choice first, without duplicates."""
    env = os.environ if env is None else env
    chosen = named_by_user(base_url, env, ("DOCKER_HOST",))
    if chosen is not None:
        return [chosen]
    name = profile(env)
    found: list[Endpoint] = []
    reported = _status_socket(name, env, timeout)
    if reported:
        found.append(Endpoint(reported, "`colima status`"))
    for base, source in base_dirs(env):
        found.append(Endpoint(unix(str(base / name / "docker.sock")), f"{source}, profile {name}"))
    home = Path(env.get("HOME") or Path.home())
    found.append(Endpoint(unix(str(home / ".colima" / "docker.sock")), "legacy socket (Colima 0.3)"))
    return first_of_each_url(found)


def _status_socket(name: str, env: Mapping[str, str], timeout: float) -> str | None:
    said = answer(["colima", "status", "--profile", name, "--json"], timeout, env)
    try:
        socket = str(json.loads(said.stdout or "{}").get("docker_socket", "")).strip()
    except (ValueError, AttributeError):
        return None
    if not socket:
        return None
    return socket if "://" in socket else unix(socket)
