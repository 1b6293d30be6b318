"""TOML services files as projects:

[services.web]
image = "localhost/web:1"          # required
build = "web"                      # optional: a context directory, relative to the file
ports = ["8080:80", "9000/udp"]    # HOST:CONTAINER[/PROTO] or CONTAINER[/PROTO]
env = { MODE = "dev" }
volumes = ["web-data:/data", "/abs/host/path:/conf:ro"]
command = "sh -c 'exec httpd -f'"  # a string (split as a shell would) or a list
working_dir = "/srv"
user = "1000"
extra_hosts = { "host.docker.internal" = "host-gateway" }
depends_on = ["db"]                # started (and ready) before this one
health = { http = "/health", port = 80, timeout = 60 }   # or { tcp = 80 } or { log = "ready" }
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, InvalidSpecError
from ..reading import check_depth, read_text, too_deep
from ..service import HealthCheck, http_check, log_check, tcp_check
from ..spec import parse_port, parse_volume, validate_seconds
from .model import DEFAULT_READY_TIMEOUT, Project, ServiceDef, assemble, project_name, service_def, where

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEYS = {
    "image",
    "build",
    "ports",
    "env",
    "volumes",
    "command",
    "entrypoint",
    "working_dir",
    "user",
    "extra_hosts",
    "depends_on",
    "health",
}


def read(path: Path, project: str | None = None) -> Project:
    """Read and validate a TOML services file; every mistake names the file, service and key."""
    name = project_name(path, project)
    text = read_text(path, "services file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # the parser recurses into nested arrays and inline tables
        raise too_deep(path) from None
    check_depth(path, data)
    extra = set(data) - {"services"}
    if extra:
        raise ConfigurationError(f"{path}: unknown top-level keys {sorted(extra)}; services go in [services.NAME]")
    tables = data.get("services")
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(f"{path}: no services; describe each in a [services.NAME] table")
    return assemble(path, [_service(path, service, table, name) for service, table in tables.items()], name)


def _service(path: Path, name: str, table: Any, project: str) -> ServiceDef:
    def at(key: str) -> str:
        return where(path, name, key)

    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: services.{name} must be a table")
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigurationError(f"{at(sorted(unknown)[0])}: unknown key; known keys are {', '.join(sorted(KEYS))}")
    if "image" not in table:
        raise ConfigurationError(f"{at('image')}: required (the image to run, or to tag a build with)")
    build = None
    if "build" in table:
        build = (path.parent / str(table["build"])).resolve()
        if not (build / "Dockerfile").is_file():
            raise ConfigurationError(f"{at('build')}: {build} has no Dockerfile")
    try:
        ports = dict(parse_port(str(p), "ports") for p in _list(at("ports"), table.get("ports", [])))
        volumes = dict(parse_volume(str(v), "volumes") for v in _list(at("volumes"), table.get("volumes", [])))
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{path}: services.{name}: {exc}") from None
    fields = {
        "ports": ports,
        "environment": table.get("env", {}),
        "volumes": volumes,
        "command": table.get("command"),
        "entrypoint": table.get("entrypoint"),
        "working_dir": table.get("working_dir"),
        "user": table.get("user"),
        "extra_hosts": table.get("extra_hosts", {}),
    }
    depends = tuple(str(n) for n in _list(at("depends_on"), table.get("depends_on", [])))
    definition = service_def(path, name, table["image"], project, fields, build=build, depends_on=depends)
    check, timeout = _health(at("health"), table.get("health"), definition)
    return dataclasses.replace(definition, health_check=check, ready_timeout=timeout)


def _list(at: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigurationError(f'{at}: expected a list, e.g. ["8080:80"]')
    return value


def _health(at: str, value: Any, definition: ServiceDef) -> tuple[HealthCheck | None, float]:
    if value is None:
        return None, DEFAULT_READY_TIMEOUT
    if not isinstance(value, dict):
        raise ConfigurationError(
            f'{at}: expected a table, e.g. {{ http = "/" }}, {{ tcp = 80 }} or {{ log = "ready" }}'
        )
    kinds = [k for k in ("http", "tcp", "log") if k in value]
    unknown = set(value) - {"http", "tcp", "log", "port", "timeout"}
    if len(kinds) != 1 or unknown:
        raise ConfigurationError(f"{at}: give exactly one of http, tcp or log (plus port and timeout)")
    timeout = value.get("timeout", DEFAULT_READY_TIMEOUT)
    try:
        timeout = validate_seconds("timeout", timeout, allow_zero=False)
    except InvalidSpecError:
        raise ConfigurationError(f"{at}: timeout must be a finite, positive number of seconds") from None
    published = [p.container_port for p in definition.spec.ports if p.protocol == "tcp"]
    if kinds == ["log"]:
        return log_check(str(value["log"])), float(timeout)
    port = value.get("port", value["tcp"] if kinds == ["tcp"] else (published[0] if published else None))
    if not isinstance(port, int) or port not in published:
        raise ConfigurationError(f"{at}: the port to check must be one of the published tcp ports {published}")
    if kinds == ["tcp"]:
        return tcp_check(port), float(timeout)
    return http_check(port, str(value["http"])), float(timeout)
