"""Settings read from the environment, each validated with an error that names the variable.

One place for every ``OBLAKO_*`` variable, so the README table and the code cannot drift.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re

from .errors import ConfigurationError

BACKEND_VAR = "OBLAKO_CONTAINER_BACKEND"
TRACE_VAR = "OBLAKO_TRACE"
TIMEOUT_VAR = "OBLAKO_TIMEOUT"
PROBE_TIMEOUT_VAR = "OBLAKO_PROBE_TIMEOUT"
BIND_ADDRESS_VAR = "OBLAKO_BIND_ADDRESS"
PUBLISH_GATEWAY_VAR = "OBLAKO_PUBLISH_GATEWAY"
HOST_OVERRIDE_VAR = "OBLAKO_HOST_OVERRIDE"
JOBS_VAR = "OBLAKO_JOBS"
PROJECT_VAR = "OBLAKO_PROJECT"

DEFAULT_BACKEND = "docker"
DEFAULT_TIMEOUT = 60.0  # one runtime API call (a pull streams, so this bounds each step)
DEFAULT_PROBE_TIMEOUT = 5.0  # "does the runtime answer at all?"
DEFAULT_BIND_ADDRESSES = ("127.0.0.1",)
# Services `up` starts (and `down` stops) at once. Unbounded, 500 services overran Docker Engine
# (starts timed out, leaving endpoints behind that kept the network from being removed) and
# Podman (stops timed out: `down` took five runs); bench/large.py measures this bound.
DEFAULT_JOBS = 8

BACKEND_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# A DNS host name (RFC 1123 labels). Here rather than in spec: OBLAKO_HOST_OVERRIDE is read on
# the quick path (ps), which never loads spec; spec's extra_hosts check uses this same rule.
HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def backend_name(value: str, source: str) -> str:
    """Normalise a backend name as typed by a user (case and spaces forgiven)."""
    name = value.strip().lower()
    if not BACKEND_NAME_RE.fullmatch(name):
        raise ConfigurationError(
            f"{source}={value!r} is not a backend name: use lower-case letters, digits, '.', '_' "
            "or '-' (for example docker, podman, kubernetes), or 'auto'"
        )
    return name


def selected_backend(explicit: str | None = None) -> tuple[str, str]:
    """Return (name, why): the explicit argument, else the environment, else the default."""
    if explicit is not None:
        return backend_name(explicit, "name"), "argument"
    from_env = os.environ.get(BACKEND_VAR, "")
    if from_env.strip():
        return backend_name(from_env, BACKEND_VAR), f"environment ({BACKEND_VAR})"
    return DEFAULT_BACKEND, "default"


def flag(var: str) -> bool:
    """Read an on/off variable; anything but the usual spellings is an error, not a guess."""
    raw = os.environ.get(var, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{var}={raw!r}: use 1 or 0 (also true/false, yes/no, on/off)")


def seconds(var: str, default: float) -> float:
    """Read a positive duration in seconds."""
    raw = os.environ.get(var, "")
    if not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ConfigurationError(f"{var}={raw!r}: expected a positive number of seconds, e.g. 30")
    return value


def call_timeout() -> float:
    """The deadline for one runtime call."""
    return seconds(TIMEOUT_VAR, DEFAULT_TIMEOUT)


def probe_timeout() -> float:
    """The deadline for a reachability probe."""
    return seconds(PROBE_TIMEOUT_VAR, DEFAULT_PROBE_TIMEOUT)


def jobs() -> int:
    """How many services `up` starts, and `down` stops, at once (`-j` overrides it for one `up`)."""
    raw = os.environ.get(JOBS_VAR, "")
    if not raw.strip():
        return DEFAULT_JOBS
    value = raw.strip()
    if not (value.isascii() and value.isdigit() and int(value) > 0):
        raise ConfigurationError(f"{JOBS_VAR}={raw!r}: expected a whole number of services, 1 or more, e.g. 8")
    return int(value)


def bind_addresses() -> tuple[str, ...]:
    """Host addresses published ports listen on: loopback unless the user widens it."""
    return explicit_bind_addresses() or DEFAULT_BIND_ADDRESSES


def publish_gateway() -> bool:
    """Do fixed host ports also listen on the engine's bridge gateway (so containers reach them
    through host-gateway)? On by default; OBLAKO_PUBLISH_GATEWAY=0 keeps them on loopback only."""
    return True if not os.environ.get(PUBLISH_GATEWAY_VAR, "").strip() else flag(PUBLISH_GATEWAY_VAR)


def explicit_bind_addresses() -> tuple[str, ...] | None:
    """The addresses OBLAKO_BIND_ADDRESS names, or None when it is unset (backends then add their own)."""
    raw = os.environ.get(BIND_ADDRESS_VAR, "")
    if not raw.strip():
        return None
    out: list[str] = []
    for part in raw.split(","):
        part = part.strip()
        try:
            out.append(str(ipaddress.ip_address(part)))
        except ValueError:
            raise ConfigurationError(
                f"{BIND_ADDRESS_VAR}={raw!r}: {part!r} is not an IP address; use one address or a "
                "comma-separated list, e.g. 127.0.0.1 or 0.0.0.0"
            ) from None
    return tuple(dict.fromkeys(out))


def host_override() -> str | None:
    """OBLAKO_HOST_OVERRIDE: the host every published port is reached at, whatever the engine
    says (testcontainers' host override). A host name or an IP address; None when unset."""
    raw = os.environ.get(HOST_OVERRIDE_VAR, "").strip()
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw.strip("[]")))
    except ValueError:
        pass
    if not raw.isascii() or not HOSTNAME_RE.fullmatch(raw):
        raise ConfigurationError(
            f"{HOST_OVERRIDE_VAR}={raw!r} is neither a host name nor an IP address; set it to where this "
            "machine reaches the engine's published ports (e.g. docker-host or 192.168.1.20), or unset it"
        )
    return raw


def project() -> str | None:
    """$OBLAKO_PROJECT as given, or None when unset or blank. Checked where it is used, as
    `-p` is (project.model.project_name), so the error names the variable."""
    return os.environ.get(PROJECT_VAR, "").strip() or None
