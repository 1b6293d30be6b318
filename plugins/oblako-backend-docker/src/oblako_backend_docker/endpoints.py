"""Where the Docker Engine API is: resolved in the order the Docker CLI uses.

An explicit base URL, then DOCKER_HOST, then DOCKER_CONTEXT, then the current context in the
Docker config file, then the default socket. Contexts are read with docker-py's own context
API rather than re-implemented.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from oblako_backends import ConfigurationError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
SCHEMES = ("unix://", "tcp://", "http://", "https://", "ssh://", "npipe://")


@dataclass(frozen=True)
class Endpoint:
    """One place a Docker Engine API may answer, and why it was chosen."""

    url: str
    source: str
    tls: Any = None  # a docker.tls.TLSConfig, or None

    def __str__(self) -> str:
        return f"{self.url} (from {self.source})"


def check_url(url: str, source: str) -> str:
    """Refuse an endpoint that docker-py could only fail on later, with a readable error."""
    scheme, _, rest = url.partition("://")
    if f"{scheme}://" not in SCHEMES or not rest.strip("/"):
        raise ConfigurationError(
            f"{source}={url!r} is not a Docker endpoint: expected e.g. unix:///var/run/docker.sock "
            "or tcp://127.0.0.1:2375"
        )
    return url


def unix(path: str) -> str:
    return f"unix://{path}"


def _env_tls(env: Mapping[str, str]) -> Any:
    """TLS settings from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, as the Docker CLI reads them."""
    if not env.get("DOCKER_TLS_VERIFY") and not env.get("DOCKER_CERT_PATH"):
        return None
    from docker.utils import kwargs_from_env

    return kwargs_from_env(environment=dict(env)).get("tls")


def resolve(base_url: str | None = None, env: Mapping[str, str] | None = None) -> Endpoint:
    """The endpoint the Docker CLI would use, with the source that decided it."""
    env = os.environ if env is None else env
    if base_url:
        return Endpoint(check_url(base_url, "base_url"), "base_url option")
    context_name = env.get("DOCKER_CONTEXT", "").strip()
    if env.get("DOCKER_HOST", "").strip():
        host = check_url(env["DOCKER_HOST"].strip(), "DOCKER_HOST")
        shadowed = context_name or _current_context_name()
        if shadowed not in ("", "default"):
            warnings.warn(
                f"DOCKER_HOST={host} overrides the Docker context {shadowed!r}; unset DOCKER_HOST to use the context",
                UserWarning,
                stacklevel=2,
            )
        return Endpoint(host, "DOCKER_HOST", _env_tls(env))
    if context_name:
        return _from_context(context_name, "DOCKER_CONTEXT")
    current = _current_context_name()
    if current not in ("", "default"):
        return _from_context(current, "current Docker context in config.json")
    return Endpoint(DEFAULT_SOCKET, "default socket")


def _current_context_name() -> str:
    from docker.context.config import get_current_context_name

    return str(get_current_context_name() or "default")


def _from_context(name: str, source: str) -> Endpoint:
    from docker.context import ContextAPI

    if name == "default":
        return Endpoint(DEFAULT_SOCKET, f"{source} (default)")
    context = ContextAPI.get_context(name)
    if context is None or not context.Host:
        known = sorted(c.Name for c in ContextAPI.contexts())
        raise ConfigurationError(
            f"{source} names the Docker context {name!r}, which does not exist "
            f"(known: {', '.join(known)}); create it with `docker context create` or pick another"
        )
    return Endpoint(context.Host, f"{source} {name!r}", context.TLSConfig)


def remote_host(url: str, is_local: Callable[[str], bool]) -> str:
    """The host of a tcp://, http(s):// or ssh:// engine that is not this machine; else ""."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("tcp", "http", "https", "ssh"):
        return ""
    authority = rest.split("/", 1)[0].rpartition("@")[2]
    host = authority[1 : authority.find("]")] if authority.startswith("[") else authority.rsplit(":", 1)[0]
    return "" if host in ("localhost", "") or is_local(host) else host


def inside_a_container(root: str = "/") -> bool:
    """Docker and Podman mark the containers they run (/.dockerenv, /run/.containerenv)."""
    return any(os.path.exists(os.path.join(root, marker)) for marker in (".dockerenv", "run/.containerenv"))


def named_by_user(base_url: str | None, env: Mapping[str, str], variables: tuple[str, ...]) -> Endpoint | None:
    """The one endpoint a user named, if any: the base_url option, else the first of `variables`
    that is set. Such a choice is the only candidate: nothing else is tried behind it."""
    if base_url:
        return Endpoint(check_url(base_url, "base_url"), "base_url option")
    for var in variables:
        if env.get(var, "").strip():
            return Endpoint(check_url(env[var].strip(), var), var)
    return None


def first_of_each_url(found: list[Endpoint]) -> list[Endpoint]:
    """`found` without later duplicates of a URL, in order."""
    unique: dict[str, Endpoint] = {}
    for endpoint in found:
        unique.setdefault(endpoint.url, endpoint)
    return list(unique.values())
