"""Compose files (compose.yaml, docker-compose.yml) as projects: the same model the TOML
services files give, so `up`, `down`, `ps`, `logs` and `config` never see a file format;
and `normal_form` writes a project back as Compose prints it (`config`).

Each file is checked against the Compose Specification's JSON schema once interpolated, as
Compose checks it (schema.py): a key that is not Compose's is refused there, with the nearest one.
The keys read are SUPPORTED; the Specification's other service keys give a warning naming the
file, the line, the service and the key, and the service runs without them. YAML is read safely
and within bounds (reading.py), and only when a Compose file is.

A file's `include:` and its services' `extends:` are read as Compose reads them: the files they
name keep their relative paths (their project directory's, or the extended file's directory's).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import ipaddress
import os
import posixpath
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import config, options, scalars
from ..errors import ConfigurationError, InvalidSpecError
from ..reading import MAX_BYTES, Lines, Override, load_yaml_lines, read_text
from ..spec import (
    ALIAS_RE,
    IMAGE_RE,
    BuildSpec,
    ContainerSpec,
    HealthCommand,
    HostBinding,
    NetworkAttachment,
    NetworkOptions,
    parse_port,
    validate_dockerfile,
    validate_project,
)
from . import interpolate, schema
from .merge import merge, settled
from .model import (
    DEFAULT_READY_TIMEOUT,
    NetworkDef,
    Project,
    ServiceDef,
    assemble,
    default_network,
    project_name,
    replica_name,
    service_def,
    where as _where,
)

DOCKERFILE = "Dockerfile"
PROFILES_VAR = "COMPOSE_PROFILES"  # Compose's own: the profiles enabled when none is given
COMPOSE_PROJECT_VAR = "COMPOSE_PROJECT_NAME"  # Compose's own, read from the shell or .env as Compose reads it
OVERRIDE_FILES = (  # the first present is merged onto the default file, as Compose does
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
# Keys read into ContainerSpec's option fields as given (options.py validates them).
OPTIONS_AS_GIVEN = (
    "cap_add",
    "cap_drop",
    "domainname",
    "expose",
    "hostname",
    "init",
    "platform",
    "privileged",
    "read_only",
    "security_opt",
    "stdin_open",
    "stop_signal",
    "tty",
)
# Keys read into ContainerSpec's option fields in its units (_options, _resources, _files).
OPTIONS_READ = (
    *("dns", "dns_search", "tmpfs", "secrets", "configs", "mem_limit", "mem_reservation", "shm_size", "cpus"),
    *("pids_limit", "ulimits", "sysctls", "devices"),
)
SUPPORTED = (
    *OPTIONS_AS_GIVEN,
    *OPTIONS_READ,
    "stop_grace_period",
    "restart",
    "build",
    "command",
    "container_name",
    "depends_on",
    "entrypoint",
    "environment",
    "env_file",
    "extends",
    "extra_hosts",
    "healthcheck",
    "image",
    "labels",
    "links",
    "networks",
    "network_mode",
    "ports",
    "profiles",
    "restart",
    "scale",
    "user",
    "volumes",
    "working_dir",
)
# Keys that describe deployment or resources, not what runs: a local run does without them.
NO_LOCAL_EFFECT = ("deploy", "logging", "cpu_shares")
# deploy.resources parts read, and the service key each one sets (Compose refuses both with
# distinct values); its other parts are swarm's (reservations.cpus) or GPUs (reservations.devices).
DEPLOY_RESOURCES = {
    "limits.memory": "mem_limit",
    "limits.cpus": "cpus",
    "limits.pids": "pids_limit",
    "reservations.memory": "mem_reservation",
}
# A service key of the Compose Specification (schema.service_keys) that this layer does not apply
# yet is said once per service when the file is read, before anything starts, and the service
# runs without it: a file Compose accepts is never refused for it.
NOT_READ_YET: frozenset[str] = frozenset()  # keys refused until they are read
TOP_LEVEL_NOT_APPLIED = ("models",)
TOP_LEVEL = ("name", "services", "volumes", "version", "networks", "include")
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")  # what Docker accepts for a local volume


def compose_files(directory: Path, env_files: Sequence[Path] | None = None) -> list[Path]:
    """The files Compose reads when given none, run in `directory`: $COMPOSE_FILE (from the
    shell, else the `.env` there or `env_files`; split at $COMPOSE_PATH_SEPARATOR, else ':'),
    else find_default."""
    lookup = interpolate.variables(directory, os.environ, env_files)
    given = lookup("COMPOSE_FILE") or ""
    if given.strip():
        separator = lookup("COMPOSE_PATH_SEPARATOR") or os.pathsep
        return [directory / name for name in given.split(separator) if name]
    return find_default(directory)


def find_default(directory: Path) -> list[Path]:
    """The Compose files Compose itself picks in `directory` (none, or the first of
    DEFAULT_FILES and then the first of OVERRIDE_FILES present)."""
    found = next((directory / name for name in DEFAULT_FILES if (directory / name).is_file()), None)
    if found is None:
        return []
    override = next((directory / name for name in OVERRIDE_FILES if (directory / name).is_file()), None)
    return [found] if override is None else [found, override]


def read(
    paths: Path | Sequence[Path],
    project: str | None = None,
    profiles: Sequence[str] | None = None,
    env_files: Sequence[Path] | None = None,
) -> Project:
    """Read and validate Compose files (each later one merged onto those before, by Compose's
    rules) into a project; nothing is started. Relative paths and `.env` are the first file's
    directory's, as in Compose (`env_files`, `--env-file`, replace that `.env`). A service with
    `profiles:` is in the project only when one of them is enabled: `profiles`, else
    $COMPOSE_PROFILES (comma-separated; `*`: all)."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    path = files[0]
    lookup = interpolate.variables(path.parent, os.environ, env_files)
    data: dict[str, Any] = {}
    located: Located = {}
    for file in files:
        data = merge(data, _document(file, lookup, (), None, located))
    data = settled(data)
    if not isinstance(data.get("services"), dict) or not data["services"]:
        raise ConfigurationError(f"{path}: no services; a Compose file lists them under `services:`")
    enabled = set(profiles if profiles is not None else (lookup(PROFILES_VAR) or "").split(",")) - {""}
    data["services"] = {
        name: body
        for name, body in data["services"].items()
        if _active(
            _list(body.get("profiles") if isinstance(body, dict) else None, _where(path, name, "profiles")), enabled
        )
    }
    name = project
    # After -p and OBLAKO_PROJECT: COMPOSE_PROJECT_NAME (the shell's, else .env's), then the
    # file's own `name:` (empty means none), each checked as -p is; else the directory's.
    chosen_by = ((lookup(COMPOSE_PROJECT_VAR), COMPOSE_PROJECT_VAR), (data.get("name"), f"{path}: name"))
    for given, source in chosen_by if name is None and config.project() is None else ():
        if given not in (None, ""):
            try:
                name = validate_project(given, source)
            except InvalidSpecError as exc:
                raise ConfigurationError(str(exc)) from None
            break
    chosen = project_name(path, name)
    volumes = _volume_names(path, data.get("volumes"), chosen)
    defined = {key: data[key] if isinstance(data.get(key), dict) else {} for key in ("secrets", "configs")}
    defined["networks"] = _network_defs(path, data.get("networks"), chosen)
    defined["containers"] = {
        str(n): str(b["container_name"])
        if isinstance(b, dict) and b.get("container_name")
        else replica_name(chosen, str(n), 1)
        for n, b in data["services"].items()
    }
    defs = [
        _service(path, service, body, chosen, volumes, lookup, located, defined)
        for service, body in data["services"].items()
    ]
    defs = _linked(defs, lambda service, key: _located(path, service, key, located))
    defs = _one_offs(defs)
    top = {k: v for k, v in data.items() if k not in ("services", "name", "version", "include")}
    more = {
        "networks": tuple(defined["networks"].values()),
        "volume_labels": _volume_labels(path, data.get("volumes"), volumes),
    }
    return dataclasses.replace(
        assemble(path, defs, chosen, **more), compose=top
    )  # `config` prints what the model lacks


def _one_offs(defs: list[ServiceDef]) -> list[ServiceDef]:
    """The services others wait for with service_completed_successfully, given Compose's
    default restart policy, `no`, when they have none: each runs once, on every backend (a
    runtime whose default restarts, as Kubernetes' Deployment does, then runs a Job)."""
    awaited = {name for d in defs for name in d.completed}
    return [
        dataclasses.replace(d, spec=dataclasses.replace(d.spec, restart="no"))
        if d.name in awaited and d.spec.restart is None
        else d
        for d in defs
    ]


def _document(
    file: Path, lookup: interpolate.Lookup, chain: tuple[Path, ...], directory: Path | None, located: Located
) -> dict[str, Any]:
    """One Compose file, checked and interpolated, with what it includes added and its services'
    `extends` resolved. `directory`: where its relative paths are, when it is not the project's
    (an included file's project directory, an extended file's own); they are then made absolute.
    `chain`: the files including this one, to refuse a cycle. `located`: where each service's
    keys are, for messages (the last file to give a key, as merging keeps its value)."""
    one, lines = _yaml_mapping(file, "a Compose file is a mapping, with its services under `services:`")
    data: dict[str, Any] = interpolate.interpolate(one, lookup, file)
    schema.check(file, data, lines)
    for key in sorted(k for k in one if k in TOP_LEVEL_NOT_APPLIED):
        warnings.warn(f"{file}: {key}: not applied yet by this layer; services run without it", stacklevel=4)
    for name in data.get("services") or {}:
        located.setdefault(str(name), []).append((file, lines))
    imported = _included(file, data.pop("include", None), lookup, (*chain, file.resolve()), directory, located)
    services = data.get("services")
    if isinstance(services, dict):
        data["services"] = {
            name: _extended(file, name, services, lookup, (), lines) if isinstance(body, dict) else body
            for name, body in services.items()
        }
        if directory is not None:
            data["services"] = {
                name: _absolute(directory, body) if isinstance(body, dict) else body
                for name, body in data["services"].items()
            }
    for key in ("secrets", "configs") if directory is not None else ():  # their `file`, as the services' paths
        if isinstance(data.get(key), dict):
            data[key] = {
                name: {**body, "file": str(directory / os.path.expanduser(body["file"]))}
                if isinstance(body, dict) and isinstance(body.get("file"), str)
                else body
                for name, body in data[key].items()
            }
    for other, part in imported:
        for key in ("services", "volumes", "networks", "secrets", "configs"):
            mine, theirs = data.get(key), part.get(key)
            if not isinstance(theirs, dict):
                continue
            if not isinstance(mine, dict):
                mine = data[key] = {}
            for name, body in theirs.items():
                if key == "services" and name in mine and mine[name] != body:
                    raise ConfigurationError(
                        f"{file}: services.{name}: conflicts with the service of that name included from {other}"
                    )
                mine.setdefault(name, body)
    return data


def _yaml_mapping(file: Path, what: str) -> tuple[dict[Any, Any], Lines]:
    one, lines = load_yaml_lines(file, read_text(file, "Compose file"))
    if not isinstance(one, dict):
        raise ConfigurationError(f"{file}: {what}")
    return one, lines


Located = dict[str, list[tuple[Path, Lines]]]  # service name -> the files giving it, in order


def _located(path: Path, name: str, key: str, located: Located) -> str:
    """Where a service's key is, in a message: `FILE:LINE: services.NAME.KEY` (the last file
    giving it), or the project's file without a line when no file writes it (`extends`)."""
    for file, lines in reversed(located.get(name, [])):
        line, exact = lines.find(("services", name, *key.split(".")))
        if exact:
            return f"{file}:{line}: services.{name}.{key}"
    return f"{path}: services.{name}.{key}"


def _included(
    file: Path,
    value: Any,
    lookup: interpolate.Lookup,
    chain: tuple[Path, ...],
    directory: Path | None,
    located: Located,
) -> list[tuple[Path, dict[str, Any]]]:
    """The documents `include:` names (as strings, or maps of `path` (one or a list, merged),
    `project_directory` and `env_file`): each read as a project of its own, its relative paths
    against its project directory (by default its first file's), its variables from the
    project's (the shell, then the project's .env) over its env_file (by default the .env of
    its project directory)."""
    if value is None:
        return []
    here = directory or file.parent

    def where(i: int, key: str = "") -> str:
        return f"{file}: include[{i}]{'.' + key if key else ''}"

    out: list[tuple[Path, dict[str, Any]]] = []
    for i, item in enumerate(_list(value, f"{file}: include")):
        entry = {"path": item} if isinstance(item, str) else item
        if not isinstance(entry, dict) or set(entry) - {"path", "project_directory", "env_file"}:
            raise ConfigurationError(f"{where(i)}: a file name, or a map of path, project_directory and env_file")
        paths = [entry.get("path")] if isinstance(entry.get("path"), str) else entry.get("path")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise ConfigurationError(f"{where(i, 'path')}: a file name, or a list of them")
        included = [here / p for p in paths]
        for one in included:
            if one.resolve() in chain:
                raise ConfigurationError(f"{where(i, 'path')}: {one} includes itself, through the files it includes")
            if not one.is_file():
                raise ConfigurationError(f"{where(i, 'path')}: {one} is not a file")
        project_directory = entry.get("project_directory")
        if project_directory is not None and not isinstance(project_directory, str):
            raise ConfigurationError(f"{where(i, 'project_directory')}: a directory")
        base = (here / project_directory) if project_directory else included[0].parent
        env_files = entry.get("env_file")
        if env_files is None:
            env_paths = [base / ".env"] if (base / ".env").is_file() else []
        else:
            names = [env_files] if isinstance(env_files, str) else env_files
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise ConfigurationError(f"{where(i, 'env_file')}: a file name, or a list of them")
            env_paths = [here / n for n in names]
            for env_path in env_paths:
                if not env_path.is_file():
                    raise ConfigurationError(f"{where(i, 'env_file')}: {env_path} is not a file")
        values: dict[str, str] = {}
        for env_path in env_paths:
            values.update(interpolate.dotenv(env_path, lookup))
        theirs = _layered(lookup, values)
        merged: dict[str, Any] = {}
        for one in included:
            merged = merge(merged, _document(one, theirs, chain, base.resolve(), located))
        out.append((included[0], merged))
    return out


def _layered(first: interpolate.Lookup, then: dict[str, str]) -> interpolate.Lookup:
    def lookup(name: str) -> str | None:
        found = first(name)
        return found if found is not None else then.get(name)

    return lookup


def _extended(
    file: Path,
    name: str,
    services: dict[str, Any],
    lookup: interpolate.Lookup,
    chain: tuple[tuple[Path, str], ...],
    lines: Lines,
) -> dict[str, Any]:
    """Service `name` of `file` with its `extends` resolved: the service it names (in this file,
    or in `file:`, whose relative paths are its own directory's), this one merged onto it by the
    rules of merging files; extended services may extend others, but not themselves."""
    body: dict[str, Any] = services[name]
    if "extends" not in body:
        return body
    where = _located(file, name, "extends", {name: [(file, lines)]})  # `lines`: the file's
    if (file.resolve(), name) in chain:
        raise ConfigurationError(f"{where}: extends itself, through the services it extends")
    value = body["extends"]
    spec = {"service": value} if isinstance(value, str) else value
    if not isinstance(spec, dict) or not isinstance(spec.get("service"), str) or set(spec) - {"service", "file"}:
        raise ConfigurationError(f"{where}: a service name, or a map of service and file")
    other = spec.get("file")
    if other is not None and (not isinstance(other, str) or not other):
        raise ConfigurationError(f"{where}: file: a file name")
    source, theirs = file, services
    if other is not None:
        source = file.parent / other
        if not source.is_file():
            raise ConfigurationError(f"{where}: file: {source} is not a file")
        raw, lines = _yaml_mapping(source, "a Compose file is a mapping")
        document = interpolate.interpolate(raw, lookup, source)
        schema.check(source, document, lines)
        theirs = document.get("services") if isinstance(document.get("services"), dict) else {}
    wanted = spec["service"]
    if not isinstance(theirs.get(wanted), dict):
        raise ConfigurationError(f"{where}: no service {wanted!r} in {source}")
    base = _extended(source, wanted, theirs, lookup, (*chain, (file.resolve(), name)), lines)
    if other is not None:
        base = _absolute(source.parent.resolve(), base)
    own = {k: v for k, v in body.items() if k != "extends"}
    merged: dict[str, Any] = merge({"services": {name: base}}, {"services": {name: own}})["services"][name]
    return merged


def _absolute(directory: Path, body: dict[str, Any]) -> dict[str, Any]:
    """A service's relative paths (build context, env_file, bind mounts) made absolute against
    `directory`, so it reads the same from another file's project (a value tagged `!override`
    too)."""

    def at(value: str) -> str:
        return value if value.startswith(("/", "~")) or "://" in value else str(directory / value)

    def build(value: Any) -> Any:
        if isinstance(value, dict):
            return {**value, "context": at(str(value.get("context", ".")))}
        return at(value) if isinstance(value, str) else value

    def env_file(value: Any) -> Any:
        if isinstance(value, list):
            return [env_file(item) for item in value]
        if isinstance(value, dict) and isinstance(value.get("path"), str):
            return {**value, "path": at(value["path"])}
        return at(value) if isinstance(value, str) else value

    def volumes(value: Any) -> Any:
        return [_absolute_volume(at, item) for item in value] if isinstance(value, list) else value

    out = dict(body)
    for key, change in (("build", build), ("env_file", env_file), ("volumes", volumes)):
        value = out.get(key)
        out[key] = Override(change(value.value)) if isinstance(value, Override) else change(value)
    return {k: v for k, v in out.items() if k in body}


def _absolute_volume(at: Any, volume: Any) -> Any:
    if isinstance(volume, str):
        source, sep, rest = volume.partition(":")
        return at(source) + sep + rest if sep and source.startswith(".") else volume
    if isinstance(volume, dict) and volume.get("type") == "bind" and isinstance(volume.get("source"), str):
        return {**volume, "source": at(volume["source"])}
    return volume


def _volume_names(path: Path, declared: Any, project: str) -> dict[str, str]:
    """What each named volume is called on the runtime: `<project>_<name>` as Compose names it
    (so projects never share data by accident), unless it is `external` or has its own `name`."""
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise ConfigurationError(f"{path}: volumes: expected a mapping of volume names")
    out: dict[str, str] = {}
    for key, body in declared.items():
        body = body or {}
        if not isinstance(body, dict):
            raise ConfigurationError(f"{path}: volumes.{key}: expected a mapping (or nothing)")
        name = body.get("name") or (key if scalars.go_bool(body.get("external")) else f"{project}_{key}")
        if not isinstance(name, str) or not VOLUME_NAME.fullmatch(name):
            # A name that is a path would become a bind mount of that host directory.
            raise ConfigurationError(
                f"{path}: volumes.{key}: name {name!r} is not a volume name (letters, digits and _ . -, "
                "starting with a letter or digit); to mount a host directory, bind it in the service"
            )
        out[str(key)] = name
    return out


def _service(
    path: Path,
    name: str,
    body: Any,
    project: str,
    volumes: dict[str, str],
    lookup: interpolate.Lookup,
    located: Located,
    defined: dict[str, Any],
) -> ServiceDef:
    """One service; `defined`: the top-level secrets and configs (by kind, then name)."""

    def where(key: str) -> str:
        return _located(path, name, key, located)

    if not isinstance(body, dict):
        raise ConfigurationError(f"{path}: services.{name} must be a mapping")
    for key in body:
        if key in SUPPORTED or _extension(key):
            continue
        if key == "deploy" and isinstance(body[key], dict):  # its replicas and resources are read
            _say_deploy(body[key], where)
            continue
        if key in NO_LOCAL_EFFECT:
            warnings.warn(f"{where(key)}: ignored (it changes nothing for a local run)", stacklevel=3)
            continue
        if key in NOT_READ_YET:
            raise ConfigurationError(f"{where(key)}: not read yet by this layer; write the service out in full")
        if key in schema.service_keys():
            warnings.warn(f"{where(key)}: not applied yet by this layer; the service runs without it", stacklevel=3)
            continue
        near = difflib.get_close_matches(str(key), sorted(schema.service_keys()), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigurationError(f"{where(key)}: not a key of a Compose service{hint}")
    build, dockerfile = _build(path, body.get("build"), where("build"))
    build_spec = _build_spec(path, body.get("build"), defined, lookup, where)
    if "image" not in body and build is None:
        raise ConfigurationError(f"{where('image')}: required (or `build`, to build the image)")
    image = str(body.get("image") or f"localhost/{project}-{name}:latest")
    networking = _service_networks(name, body, defined, where)
    environment, unset = _environment(path, body, where, lookup)
    health = _healthcheck(body.get("healthcheck"), where("healthcheck"))
    fields = {
        "ports": dict(p for item in _list(body.get("ports"), where("ports")) for p in _ports(item, where("ports"))),
        "environment": environment,
        "volumes": [  # pairs: one source may be mounted at several targets
            _volume(path, item, where("volumes"), volumes, f"{project}_{name}")
            for item in _list(body.get("volumes"), where("volumes"))
            if not _is_tmpfs(item)  # read into `tmpfs` (_tmpfs)
        ],
        "command": body.get("command"),
        "entrypoint": body.get("entrypoint"),
        "working_dir": body.get("working_dir"),
        "user": None if body.get("user") is None else str(body["user"]),
        "extra_hosts": _mapping(body.get("extra_hosts"), where("extra_hosts"), ":"),
        "labels": _mapping(body.get("labels"), where("labels"), "="),
        "health": health,
        **_options(body, where),
        "files": _files(path, body, defined, lookup, where),
        **networking,
    }
    if networking.get("network_mode") == "host" and fields["ports"]:
        warnings.warn(f"{where('ports')}: not published: network_mode host uses the host's ports", stacklevel=3)
        fields["ports"] = {}
    depends, completed = _depends_on(body.get("depends_on"), where("depends_on"))
    implied = tuple(n for n in _implied_dependencies(body) if n not in depends)
    depends += implied
    restart_with = _restarted_with(body.get("depends_on")) + tuple(n for n in implied if n not in _volumes_from(body))
    replicas = _replicas(body, where)
    if body.get("container_name") and replicas > 1:
        raise ConfigurationError(
            f"{where('container_name')}: can't be set with {replicas} replicas (scale or deploy.replicas): "
            "each container needs a name of its own"
        )
    ready = DEFAULT_READY_TIMEOUT
    if health is not None:  # long enough for the check to pass after its start period
        ready = max(ready, health.start_period + (health.retries + 1) * (health.interval + health.timeout))
    container_name = str(body["container_name"]) if body.get("container_name") else None  # else <project>-<service>-<n>
    how: dict[str, Any] = {"build": build, "dockerfile": dockerfile, "build_spec": build_spec}
    how |= {"depends_on": depends, "ready_timeout": ready}
    how |= {
        "unset": unset,
        "completed": completed,
        "restart_with": restart_with,
        "compose": body,
    }  # compose: the service as given, for `config` (what the model lacks)
    return service_def(path, name, image, project, fields, container_name, replicas=replicas, **how)


def _options(body: dict[str, Any], where: Any) -> dict[str, Any]:
    """The container options given, in ContainerSpec's units: durations in seconds, a single
    DNS entry as a list (as Compose reads it)."""
    out: dict[str, Any] = {key: body[key] for key in OPTIONS_AS_GIVEN if body.get(key) is not None}
    for key in ("dns", "dns_search"):
        if body.get(key) is not None:
            out[key] = [body[key]] if isinstance(body[key], str) else body[key]
    restart = body.get("restart")
    if restart is not None and options.RESTART_RE.fullmatch(str(restart)):
        out["restart"] = str(restart)  # "no" too: Docker's default, but not every runtime's (Kubernetes')
    elif restart is not None:  # Compose's config reads any text; the engine would refuse it
        warnings.warn(f"{where('restart')}: not a restart policy Docker knows; not applied", stacklevel=4)
    if body.get("stop_grace_period") is not None:
        out["stop_grace_period"] = duration(body["stop_grace_period"], where("stop_grace_period"))
    resources, keys = _resources(body, where)
    out |= resources
    tmpfs = _tmpfs(body, where)
    if tmpfs:
        out["tmpfs"] = tmpfs
        keys |= {} if "tmpfs" in body else {"tmpfs": "volumes"}  # only tmpfs volumes: a message points there
    for field, value in out.items():  # each checked as ContainerSpec checks it, so a message has its line
        try:
            ContainerSpec(name="checked", image="checked", **{field: value})
        except InvalidSpecError as exc:
            raise ConfigurationError(f"{where(keys.get(field, field))}: {exc}") from None
    return out


def _say_deploy(deploy: dict[str, Any], where: Any) -> None:
    """What `deploy` holds beyond replicas and the resources read (DEPLOY_RESOURCES), said per part."""
    for part in deploy:
        if part not in ("replicas", "resources"):
            warnings.warn(f"{where(f'deploy.{part}')}: ignored (it changes nothing for a local run)", stacklevel=4)
    resources = deploy.get("resources")
    for kind, given in resources.items() if isinstance(resources, dict) else ():
        for name in given if isinstance(given, dict) else ():
            key = f"deploy.resources.{kind}.{name}"
            if f"{kind}.{name}" in DEPLOY_RESOURCES:
                continue
            if name == "devices":  # GPUs and the like: a local run could use them, this layer does not yet
                warnings.warn(
                    f"{where(key)}: not applied yet by this layer; the service runs without them", stacklevel=4
                )
            else:
                warnings.warn(f"{where(key)}: ignored (it changes nothing for a local run)", stacklevel=4)


def _resources(body: dict[str, Any], where: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Memory, CPU and process limits, ulimits, sysctls and devices in ContainerSpec's units
    (bytes, CPUs, (soft, hard)); `deploy.resources` limits and memory reservation too, refused
    when the service's own key says otherwise, as Compose refuses them. Returns the fields, and
    the key each deploy-given field came from (for messages)."""
    out: dict[str, Any] = {}
    keys: dict[str, str] = {}
    read = {"mem_limit": _size, "mem_reservation": _size, "shm_size": _size, "cpus": _cpus, "pids_limit": _pids}
    for key, reader in read.items():
        value = reader(body.get(key), where(key))
        if value is not None:
            out[key] = value
    deploy = body.get("deploy")
    resources = deploy.get("resources") if isinstance(deploy, dict) else None
    resources = resources if isinstance(resources, dict) else {}
    for part, key in DEPLOY_RESOURCES.items():
        kind, name = part.split(".")
        given = resources.get(kind)
        value = read[key](given.get(name) if isinstance(given, dict) else None, where(f"deploy.resources.{part}"))
        if value is None:
            continue
        if out.get(key, value) != value:
            raise ConfigurationError(
                f"{where(f'deploy.resources.{part}')}: can't set distinct values on '{key}' and "
                f"'deploy.resources.{part}'; give one of them"
            )
        out[key] = value
        if key not in body:  # given both ways (equal), the service's key is where a message points
            keys[key] = f"deploy.resources.{part}"
    if body.get("ulimits") is not None:
        out["ulimits"] = _ulimits(body["ulimits"], where("ulimits"))
    sysctls = body.get("sysctls")
    if isinstance(sysctls, list):  # NAME=VALUE; a NAME alone is set to "", as Compose reads it
        out["sysctls"] = dict(str(item).partition("=")[::2] for item in sysctls)
    elif sysctls is not None:
        out["sysctls"] = _mapping(sysctls, where("sysctls"), "=")
    devices = _devices(body.get("devices"), where("devices"))
    if devices:
        out["devices"] = devices
    return out, keys


_BYTE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_GO_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def byte_count(value: Any) -> int:
    """A size as Compose reads one (go-units' RAMInBytes): a number of bytes, or text like "64m",
    "1.5g" or "512 KiB" (k, m, g, t, p: powers of 1024, optionally followed by b or ib). Raises
    ValueError saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("not a size")
    if isinstance(value, int):
        return value
    text = str(value)
    end = max(text.rfind(c) for c in "0123456789. ")
    if end < 0:
        raise ValueError("no number")
    number, suffix = text[: end + (text[end] != " ")], text[end + 1 :].lower()
    if not _GO_FLOAT.fullmatch(number) or float(number) < 0:
        raise ValueError(f"{number!r} is not a number of 0 or more")
    unit = 1 if suffix in ("", "b") else _BYTE_UNITS.get(suffix[:1], 0)
    if not unit or suffix[1:] not in ("", "b", "ib") or (suffix[:1] == "b" and len(suffix) > 1):
        raise ValueError(f"unknown unit {suffix!r}")
    return int(float(number) * unit)


def _size(value: Any, where: str) -> int | None:
    """Bytes; 0 (and -1, Docker's "no limit") are the runtime's default: None."""
    if value is None:
        return None
    try:
        count = byte_count(value)
    except ValueError as exc:
        raise ConfigurationError(f'{where}: {value!r} is not a size like "64m", "1g" or 1048576 ({exc})') from None
    if count < -1:
        raise ConfigurationError(f"{where}: {value!r} is not a size of 0 or more")
    return count if count > 0 else None


def _cpus(value: Any, where: str) -> float | None:
    """A number of CPUs (a number, or its text); 0 is no limit: None."""
    if value is None:
        return None
    text = str(value)
    if isinstance(value, bool) or not _GO_FLOAT.fullmatch(text) or float(text) < 0:
        raise ConfigurationError(f"{where}: {value!r} is not a number of CPUs like 0.5 or 2")
    return float(text) or None


def _integer(value: Any, where: str, what: str) -> int:
    """A whole number, or the text of one (an interpolated value)."""
    text = str(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not re.fullmatch(r"-?[0-9]{1,19}", text):
        raise ConfigurationError(f"{where}: {value!r} is not {what}")
    return int(text)


def _pids(value: Any, where: str) -> int | None:
    """A process limit; -1 is none, 0 the runtime's default (None)."""
    if value is None:
        return None
    return _integer(value, where, "a number of processes (-1 for no limit)") or None


def _ulimits(value: Any, where: str) -> dict[str, tuple[int, int]]:
    """name: N (soft and hard) or {soft, hard}, as (soft, hard)."""
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: a map of limits, like nofile: 1024 or nofile: {{soft: 1024, hard: 4096}}")
    out: dict[str, tuple[int, int]] = {}
    for name, limit in value.items():
        what = "a limit: a whole number, or soft and hard ones"
        if isinstance(limit, dict):
            if "soft" not in limit or "hard" not in limit:
                raise ConfigurationError(f"{where}.{name}: needs both soft and hard")
            out[str(name)] = (
                _integer(limit["soft"], f"{where}.{name}", what),
                _integer(limit["hard"], f"{where}.{name}", what),
            )
        else:
            number = _integer(limit, f"{where}.{name}", what)
            out[str(name)] = (number, number)
    return out


def _devices(value: Any, where: str) -> list[str]:
    """Host devices as HOST:CONTAINER:PERMISSIONS (Compose's normal form: the container's path
    is the host's, the permissions rwm, unless given). CDI names (vendor.com/class=name) are
    said and left out."""
    out: list[str] = []
    for item in _list(value, where):
        if isinstance(item, dict):
            source, target = item.get("source"), item.get("target")
            permissions = item.get("permissions") or "rwm"
        else:
            parts = str(item).split(":")
            source, target = parts[0], parts[1] if len(parts) > 1 else parts[0]
            permissions = parts[2] if len(parts) > 2 else "rwm"
        if not isinstance(source, str) or not source.startswith("/"):
            warnings.warn(
                f"{where}: {source!r}: not a device path; CDI devices are not applied by this layer", stacklevel=5
            )
            continue
        out.append(f"{source}:{target}:{permissions}")
    return out


def _is_tmpfs(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "tmpfs"


def _tmpfs(body: dict[str, Any], where: Any) -> dict[str, str]:
    """`tmpfs` ("PATH" or "PATH:OPTIONS", one or a list) and the `volumes` of type tmpfs, as
    target -> mount options (the long form's size in bytes and mode in octal)."""
    given = body.get("tmpfs")
    out: dict[str, str] = {}
    for item in [given] if isinstance(given, str) else _list(given, where("tmpfs")):
        target, _, mount_options = str(item).partition(":")
        out[target] = mount_options
    at = where("volumes")
    for item in _list(body.get("volumes"), at):
        if not _is_tmpfs(item):
            continue
        target, settings = item.get("target"), item.get("tmpfs") or {}
        if not isinstance(target, str) or not target or not isinstance(settings, dict):
            raise ConfigurationError(f"{at}: a tmpfs mount needs a target, and takes tmpfs: {{size, mode}}")
        parts = []
        size = _size(settings.get("size"), f"{at}: {target}: tmpfs.size")
        if size:
            parts.append(f"size={size}")
        if settings.get("mode") is not None:
            parts.append(f"mode={_file_mode(settings['mode'], f'{at}: {target}: tmpfs.mode'):o}")
        if target in out:
            raise ConfigurationError(f"{at}: {target}: a tmpfs mount there is given twice")
        out[target] = ",".join(parts)
    return out


SECRETS_DIRECTORY = "/run/secrets"  # where a secret is put unless its target is absolute, as in Compose
FILE_MODE = 0o444  # Compose's default mode for a secret or config


def _files(
    path: Path, body: dict[str, Any], defined: dict[str, Any], lookup: interpolate.Lookup, where: Any
) -> list[options.FileSpec]:
    """The service's secrets and configs as files to put in the container, each read from its
    top-level definition (`file`, relative to the project's directory; `environment`, a
    variable as interpolation reads it; a config's inline `content`). An external one is
    the runtime's to provide: said, and left out. Their contents are never shown."""
    out: dict[str, options.FileSpec] = {}
    external: list[str] = []
    for kind in ("secrets", "configs"):
        for i, item in enumerate(_list(body.get(kind), where(kind))):
            at = f"{where(kind)}[{i}]"
            grant = {"source": item} if isinstance(item, str) else item
            name = grant.get("source") if isinstance(grant, dict) else None
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"{at}: a name, or a map of source, target, mode, uid and gid")
            definition = defined[kind].get(name, False)
            if definition is False:
                raise ConfigurationError(
                    f"{at}: {name!r} is not defined; define it under the top-level `{kind}:` "
                    f"(with file or environment{' or content' if kind == 'configs' else ''})"
                )
            definition = definition if isinstance(definition, dict) else {}
            if scalars.go_bool(definition.get("external")):
                external.append(f"{kind}.{name}")
                continue
            if grant.get("uid") is not None or grant.get("gid") is not None:
                warnings.warn(f"{at}: uid and gid: not applied by this layer; the file is root's", stacklevel=4)
            content, source = _file_content(path, kind, name, definition, lookup, at)
            try:
                spec = options.FileSpec(
                    _file_target(kind, name, grant.get("target"), at),
                    content,
                    _file_mode(grant.get("mode", FILE_MODE), f"{at}: mode"),
                    source,
                )
            except InvalidSpecError as exc:
                raise ConfigurationError(f"{at}: {exc}") from None
            if out.get(spec.target, spec) != spec:
                raise ConfigurationError(f"{at}: {spec.target}: another secret or config is put at this path")
            out[spec.target] = spec
    if external:
        warnings.warn(
            f"{where('secrets' if external[0].startswith('secrets.') else 'configs')}: {', '.join(external)}: "
            "external: not applied by this layer; the service runs without them",
            stacklevel=3,
        )
    return list(out.values())


def _file_target(kind: str, name: str, target: Any, where: str) -> str:
    """A secret's path: /run/secrets/NAME, or its target (under /run/secrets/ if relative); a
    config's: /NAME, or its target (under / if relative)."""
    if target is not None and (not isinstance(target, str) or not target):
        raise ConfigurationError(f"{where}: target: a path in the container")
    base = SECRETS_DIRECTORY if kind == "secrets" else "/"
    return posixpath.normpath(posixpath.join(base, target or name))


def _file_mode(value: Any, where: str) -> int:
    """A file mode as Compose reads one: a number as it is, text as octal ("0440")."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and re.fullmatch(r"[0-7]{1,5}", value):
        mode = int(value, 8)
    else:
        raise ConfigurationError(f'{where}: {value!r} is not a file mode like 0440 or "0440"')
    if not 0 <= mode <= 0o7777:
        raise ConfigurationError(f"{where}: {value!r} is not a file mode from 0 to 0o7777")
    return mode


def _file_content(
    path: Path, kind: str, name: str, definition: dict[str, Any], lookup: interpolate.Lookup, where: str
) -> tuple[bytes, str | None]:
    """A secret's or config's content, and the host file it was read from (if it was)."""
    if isinstance(definition.get("file"), str):
        host = os.path.normpath(path.parent.absolute() / os.path.expanduser(definition["file"]))
        if not os.path.isfile(host):
            raise ConfigurationError(f"{where}: {kind}.{name}: {host} is not a file")
        try:
            with open(host, "rb") as file:
                data = file.read(MAX_BYTES + 1)
        except OSError as exc:
            raise ConfigurationError(f"{where}: {kind}.{name}: can't read {host}: {exc.strerror or exc}") from None
        if len(data) > MAX_BYTES:
            raise ConfigurationError(f"{where}: {kind}.{name}: {host} is larger than {MAX_BYTES // 1024**2} MiB")
        return data, host
    if isinstance(definition.get("environment"), str):
        variable = definition["environment"]
        value = lookup(variable)
        if value is None:
            raise ConfigurationError(
                f"{where}: {kind}.{name}: the variable {variable} it is read from is not set (in the shell or .env)"
            )
        return value.encode(), None
    if kind == "configs" and isinstance(definition.get("content"), str):
        return definition["content"].encode(), None
    given = "file, environment or content" if kind == "configs" else "file or environment"
    raise ConfigurationError(f"{where}: {kind}.{name}: its definition gives no {given} to read it from")


def _replicas(body: dict[str, Any], where: Any) -> int:
    """How many containers the service runs: `scale`, or `deploy.replicas` (the same number if
    both are given, as Compose wants), else 1. A number, or the text of one (interpolated)."""
    deploy = body.get("deploy")
    replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
    given = {
        key: _count(value, where(key))
        for key, value in (("scale", body.get("scale")), ("deploy.replicas", replicas))
        if value is not None
    }
    if len(set(given.values())) > 1:
        raise ConfigurationError(f"{where('scale')}: can't set distinct values on 'scale' and 'deploy.replicas'")
    return next(iter(given.values()), 1)


def _count(value: Any, where: str) -> int:
    """A number of replicas: a whole number from 0, or the text of one."""
    text = str(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not (text.isascii() and text.isdigit()):
        raise ConfigurationError(f"{where}: {value!r} is not a number of replicas (a whole number from 0)")
    return int(text)


def _active(profiles: list[Any], enabled: set[str]) -> bool:
    """A service is in the project without profiles, or with one of the enabled ones."""
    return not profiles or "*" in enabled or any(str(p) in enabled for p in profiles)


def _extension(key: Any) -> bool:
    """An `x-` key: the Compose Specification's extension fields, for the user's own use (anchors)."""
    return isinstance(key, str) and key.startswith("x-")


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigurationError(f"{where}: expected a list")
    return value


def _mapping(value: Any, where: str, separator: str) -> dict[str, str]:
    """A map, or a list of KEY<separator>VALUE strings (extra_hosts also takes KEY=VALUE)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else scalars.text(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in _list(value, where):
        text = str(item)
        key, sep, rest = text.partition("=" if "=" in text or separator == "=" else separator)
        if not sep:
            raise ConfigurationError(f"{where}: {text!r} is not KEY{separator}VALUE")
        out[key] = rest
    return out


def _environment(
    path: Path, body: dict[str, Any], where: Any, lookup: interpolate.Lookup
) -> tuple[dict[str, str], tuple[str, ...]]:
    """env_file entries, then `environment` over them; a KEY without a value is taken from the
    variables (the shell, over `.env`). Returns the values, and the keys left unset that way
    (the container gets none; `config` prints them as null, as Compose does)."""
    out: dict[str, str] = {}
    unset: list[str] = []
    env_files = body.get("env_file")
    for item in [env_files] if isinstance(env_files, str) else _list(env_files, where("env_file")):
        file, required = (item.get("path"), item.get("required", True)) if isinstance(item, dict) else (item, True)
        if not isinstance(file, str) or not file or not isinstance(required, bool):
            raise ConfigurationError(f"{where('env_file')}: {item!r}: a file name, or a map with path and required")
        if (path.parent / file).is_file():
            out.update(interpolate.dotenv(path.parent / file, lookup))
        elif required:
            raise ConfigurationError(
                f"{where('env_file')}: {path.parent / file} is not a file (`required: false` makes it optional)"
            )
    raw = body.get("environment")
    if isinstance(raw, list):
        for item in raw:
            key, sep, value = str(item).partition("=")
            if sep:
                out[key] = value
            elif (given := lookup(key)) is not None:
                out[key] = given  # `- KEY` alone: from the shell, or .env
            elif key not in out:
                unset.append(key)
    elif isinstance(raw, dict):
        for key, value in raw.items():
            if value is None:
                if (given := lookup(str(key))) is not None:
                    out[str(key)] = given
                elif str(key) not in out:
                    unset.append(str(key))
            else:
                out[str(key)] = scalars.text(value)
    elif raw is not None:
        raise ConfigurationError(f"{where('environment')}: expected a list of KEY=VALUE or a mapping")
    return out, tuple(unset)


def _ports(item: Any, where: str, say: bool = True) -> list[tuple[str, HostBinding]]:
    """Short form [IP:]HOST:CONTAINER[/PROTO], ranges, bare CONTAINER; or the long form. A
    loopback address the file names stays with its port (see `_host_address`; `say`: warn)."""
    if isinstance(item, dict):
        if "target" not in item:  # its other keys are the schema's (schema.py)
            raise ConfigurationError(f"{where}: a long-form port needs `target` (and takes published, protocol)")
        address = _host_address(item.get("host_ip"), where, say)
        published = item.get("published")
        port = f"{_port_number(item['target'], f'{where}: target')}/{item.get('protocol', 'tcp')}"
        if published not in (None, ""):
            port = f"{_port_number(published, f'{where}: published')}:{port}"
        try:
            return _at(address, [parse_port(port, where)])
        except InvalidSpecError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
    text = str(item)
    protocol = "tcp"
    if "/" in text:
        text, protocol = text.rsplit("/", 1)
    parts = text.rsplit(":", 2) if text.count(":") <= 2 else [text]
    address = None
    if len(parts) == 3:
        address = _host_address(parts[0], where, say)
        parts = parts[1:]
    host: str | None = parts[0] if len(parts) == 2 else None
    containers = _range(parts[-1], where)
    hosts = _range(host, where) if host else [None] * len(containers)
    if len(hosts) != len(containers):
        raise ConfigurationError(f"{where}: {item!r}: host and container ranges differ in length")
    try:
        return _at(
            address,
            [
                parse_port(f"{h}:{c}/{protocol}" if h else f"{c}/{protocol}", where)
                for h, c in zip(hosts, containers, strict=True)
            ],
        )
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


def _at(address: str | None, ports: list[tuple[str, int | None]]) -> list[tuple[str, HostBinding]]:
    """Ports as Service takes them: each host port with the address named, if one was."""
    return [(key, (address, host) if address else host) for key, host in ports]


def _port_number(value: Any, where: str) -> int:
    """A port of the long form: a number, or a string of one (not a range, which would leave
    the engine to pick one port from it)."""
    text = str(value)
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ConfigurationError(f"{where}: {value!r} is not a port number from 1 to 65535")
    return int(text)


def _range(text: str, where: str) -> list[Any]:
    first, sep, last = text.partition("-")
    if not sep:
        return [text]
    if not (first.isascii() and first.isdigit() and last.isascii() and last.isdigit()) or int(last) < int(first):
        raise ConfigurationError(f"{where}: {text!r} is not a port range like 8000-8010")
    return list(range(int(first), int(last) + 1))


def _host_address(address: Any, where: str, say: bool = True) -> str | None:
    """The loopback address a port names (kept as it is: no setting widens it), or None. Another
    IP address is read, as Compose reads it (`config` prints it), and said: the port listens
    where OBLAKO_BIND_ADDRESS says (default 127.0.0.1), never wider than the user allowed."""
    if address in (None, ""):
        return None
    if address == "127.0.0.1":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(str(address))
    except ValueError:  # Compose refuses a name here too ("invalid IP address: localhost")
        raise ConfigurationError(f"{where}: a host address is an IP address, not {str(address)!r}") from None
    if say:
        warnings.warn(
            f"{where}: host address {address}: the port listens on OBLAKO_BIND_ADDRESS (default 127.0.0.1) "
            f"instead; set OBLAKO_BIND_ADDRESS={address} to listen there",
            stacklevel=4,
        )
    return None


def _volume(path: Path, item: Any, where: str, volumes: dict[str, str], owner: str) -> tuple[str, dict[str, str]]:
    """Named volumes, relative and absolute binds, :ro/:rw and SELinux :z/:Z, or the long form.
    An anonymous volume (`- /data`) is a volume of the service's own, `<owner>_anon_<hash of its
    target>`: made by `up`, kept across `up`s as Compose keeps a service's anonymous volumes,
    removed by `down -v`."""
    if isinstance(item, dict) and item.get("type", "volume") == "volume" and item.get("source") in (None, ""):
        item = {**item, "source": _anonymous(owner, item.get("target"))}
    if isinstance(item, dict):
        kind, source, target = item.get("type", "volume"), item.get("source"), item.get("target")
        if kind not in ("volume", "bind") or not isinstance(source, str) or not isinstance(target, str):
            raise ConfigurationError(f"{where}: long form needs type volume or bind, and source and target strings")
        if not source or not target:
            raise ConfigurationError(f"{where}: long form needs type volume or bind, source and target")
        read_only = bool(item.get("read_only", False))
        selinux = item.get("bind", {}).get("selinux") if isinstance(item.get("bind"), dict) else None
        if selinux not in (None, "z", "Z"):
            raise ConfigurationError(f"{where}: bind.selinux: z (shared) or Z (private), not {selinux!r}")
    else:
        parts = str(item).split(":")
        if len(parts) == 1:
            parts = [_anonymous(owner, parts[0]), parts[0]]
        source, target = parts[0], parts[1]
        options = set(",".join(parts[2:]).split(",")) - {"", "z", "Z", "rw"}
        if options - {"ro"}:
            raise ConfigurationError(f"{where}: {item!r}: options are ro, rw, z and Z")
        read_only = "ro" in options
        relabels = [o for o in ",".join(parts[2:]).split(",") if o in ("z", "Z")]
        selinux = relabels[-1] if relabels else None  # the last one given, as Compose takes it
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    if kind == "bind":
        source = str((path.parent / os.path.expanduser(source)).resolve())
    elif source.startswith(f"{owner}_anon_"):
        pass  # the service's own (see above)
    elif source not in volumes:
        raise ConfigurationError(f"{where}: volume {source!r} is not declared under the top-level `volumes:`")
    else:
        source = volumes[source]
    return source, {"bind": target, "mode": "ro" if read_only else "rw"} | ({"selinux": selinux} if selinux else {})


def _anonymous(owner: str, target: Any) -> str:
    return f"{owner}_anon_{hashlib.sha256(str(target).encode()).hexdigest()[:8]}"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def duration(text: Any, where: str) -> float:
    """Seconds in a Compose duration: "1m30s", "10s", "1.5s", "500ms" (units h, m, s, ms, us, ns)."""
    if not isinstance(text, str) or not text or _DURATION.sub("", text) != "":
        raise ConfigurationError(f'{where}: a duration such as "30s", "1m30s" or "500ms", not {text!r}')
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION.findall(text))


def _healthcheck(value: Any, where: str) -> HealthCommand | None:
    """`test` as ["CMD", ...], ["CMD-SHELL", "..."], a string (CMD-SHELL) or ["NONE"]; `disable: true`
    turns it off; `interval`, `timeout` and `start_period` are durations, `retries` a count."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: a map with test, interval, timeout, retries, start_period")
    # Its keys are the schema's (each file was checked: schema.py), `x-` extensions among them.
    if "start_interval" in value:
        warnings.warn(f"{where}: start_interval: not applied; checks run every interval from the start", stacklevel=4)
    test = value.get("test")
    if value.get("disable") is True or test == ["NONE"]:
        return None
    if isinstance(test, str):
        command = ["/bin/sh", "-c", test]
    elif isinstance(test, list) and len(test) >= 2 and test[0] == "CMD":
        command = [str(a) for a in test[1:]]
    elif isinstance(test, list) and len(test) == 2 and test[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", str(test[1])]
    else:
        raise ConfigurationError(f'{where}: test is ["CMD", args...], ["CMD-SHELL", "command"], a string, or ["NONE"]')
    timing = {
        key: duration(value[key], f"{where}: {key}") for key in ("interval", "timeout", "start_period") if key in value
    }
    retries = value.get("retries", 3)
    if isinstance(retries, str) and retries.isascii() and retries.isdigit():
        retries = int(retries)  # interpolated (`retries: ${RETRIES:-3}`): a number, as Compose reads it
    try:
        return HealthCommand(tuple(command), retries=retries, **timing)
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


NETWORK_KEYS_READ = ("name", "external", "labels", "driver", "internal", "ipam")


def _network_defs(path: Path, declared: Any, project: str) -> dict[str, NetworkDef]:
    """The top-level `networks`, by key, as `up` makes them: `<project>_<key>` (or `name`), with
    their labels, driver, internal and IPAM subnets; `external` ones are used, never made. The
    key `default` is the project's default network, `<project>_default` unless declared."""
    out: dict[str, NetworkDef] = {"default": NetworkDef(default_network(project), key="default")}
    for key, body in (declared or {}).items() if isinstance(declared, dict) else ():
        at = f"{path}: networks.{key}"
        body = body if isinstance(body, dict) else {}
        for part in sorted(str(k) for k in body if k not in NETWORK_KEYS_READ and not _extension(str(k))):
            warnings.warn(f"{at}.{part}: not applied yet by this layer; the network is made without it", stacklevel=4)
        external = scalars.go_bool(body.get("external"))
        name = body.get("name") or (key if external else f"{project}_{key}")
        ipam: dict[str, Any] = body["ipam"] if isinstance(body.get("ipam"), dict) else {}
        subnets = []
        for part in sorted(str(k) for k in ipam if k != "config"):
            warnings.warn(
                f"{at}.ipam.{part}: not applied yet by this layer; the network is made without it", stacklevel=4
            )
        for entry in ipam.get("config") or []:
            entry = entry if isinstance(entry, dict) else {}
            for part in sorted(str(k) for k in entry if k != "subnet"):
                warnings.warn(
                    f"{at}.ipam.config.{part}: not applied yet by this layer; the network is made without it",
                    stacklevel=4,
                )
            if entry.get("subnet"):
                subnets.append(str(entry["subnet"]))
        try:
            options = NetworkOptions(
                labels=_mapping(body.get("labels"), f"{at}.labels", "="),
                driver=None if body.get("driver") in (None, "") else str(body["driver"]),
                internal=scalars.go_bool(body.get("internal")),
                subnets=tuple(subnets),
            )
            out[str(key)] = NetworkDef(str(name), options, external, str(key))
        except InvalidSpecError as exc:
            raise ConfigurationError(f"{at}: {exc}") from None
    return out


def _volume_labels(path: Path, declared: Any, names: dict[str, str]) -> dict[str, dict[str, str]]:
    """The `labels` of the top-level volumes, by the volume's name on the runtime."""
    out: dict[str, dict[str, str]] = {}
    for key, body in (declared or {}).items() if isinstance(declared, dict) else ():
        if isinstance(body, dict) and body.get("labels") and not scalars.go_bool(body.get("external")):
            labels = _mapping(body["labels"], f"{path}: volumes.{key}.labels", "=")
            try:
                NetworkOptions(labels=labels)  # checked as any label is
            except InvalidSpecError as exc:
                raise ConfigurationError(f"{path}: volumes.{key}: {exc}") from None
            out[names[str(key)]] = labels
    return out


def _service_networks(name: str, body: dict[str, Any], defined: dict[str, Any], where: Any) -> dict[str, Any]:
    """A service's `networks` (a list, or a map with aliases and ipv4_address each), as
    attachments on which the service name is an alias too; or its `network_mode`, with
    `service:NAME` as that service's (first) container. Neither: assemble joins it to the
    default network."""
    mode, value = body.get("network_mode"), body.get("networks")
    if mode is not None:
        if value is not None:  # as Compose refuses it
            raise ConfigurationError(f"{where('network_mode')}: network_mode and networks cannot be combined")
        mode = str(mode)
        if mode.startswith("service:"):
            other = mode.removeprefix("service:")
            if other not in defined["containers"]:
                raise ConfigurationError(f"{where('network_mode')}: no service named {other!r}")
            if other == name:
                raise ConfigurationError(f"{where('network_mode')}: a service cannot share its own network")
            mode = "container:" + defined["containers"][other]
        try:
            return {"network_mode": ContainerSpec(name="checked", image="checked", network_mode=mode).network_mode}
        except InvalidSpecError as exc:
            raise ConfigurationError(f"{where('network_mode')}: {exc}") from None
    if value is None:  # the project's default network: the file's own `networks.default` when it declares one
        default: NetworkDef = defined["networks"]["default"]
        return {"networks": [NetworkAttachment(default.name, (name,) if ALIAS_RE.fullmatch(name) else ())]}
    if not isinstance(value, (list, dict)):
        raise ConfigurationError(f"{where('networks')}: a list of network names, or a map of them")
    given = value if isinstance(value, dict) else dict.fromkeys(value)
    networks: dict[str, NetworkDef] = defined["networks"]
    attachments: list[tuple[int, str, NetworkAttachment]] = []
    for key, how in given.items():
        at = where(f"networks.{key}")
        if str(key) not in networks:
            raise ConfigurationError(f"{at}: no network {key!r} under the top-level `networks:`")
        how = how if isinstance(how, dict) else {}
        for part in sorted(str(k) for k in how if k not in ("aliases", "ipv4_address", "priority")):
            warnings.warn(f"{at}.{part}: not applied yet by this layer; the service joins without it", stacklevel=4)
        aliases = [name] if ALIAS_RE.fullmatch(name) else []
        try:
            priority = int(how.get("priority") or 0)
            attachments.append(
                (
                    -priority,
                    str(key),
                    NetworkAttachment(
                        networks[str(key)].name,
                        tuple(dict.fromkeys([*aliases, *(str(a) for a in how.get("aliases") or [])])),
                        None if how.get("ipv4_address") in (None, "") else str(how["ipv4_address"]),
                    ),
                )
            )
        except (InvalidSpecError, ValueError, TypeError) as exc:
            raise ConfigurationError(f"{at}: {exc}") from None
    # The first is the one the container is created on: as Compose orders them, the highest
    # `priority` first, then by key.
    return {"networks": [a for _, _, a in sorted(attachments, key=lambda t: t[:2])]} if attachments else {}


def _linked(defs: list[ServiceDef], where: Any) -> list[ServiceDef]:
    """`links` (`svc` or `svc:alias`): the alias added to the linked service on each network the
    two share (the dependency is `_implied_dependencies`'). Linking across no shared network is
    said, and makes no name."""
    by_name = {d.name: d for d in defs}
    extra: dict[str, dict[str, list[str]]] = {}
    for d in defs:
        links = d.compose.get("links") if isinstance(d.compose, dict) else None
        for link in links if isinstance(links, list) else []:
            target, _, alias = str(link).partition(":")
            alias = alias or target
            other = by_name.get(target)
            if other is None:
                raise ConfigurationError(f"{where(d.name, 'links')}: no service named {target!r}")
            shared = {n.name for n in d.spec.networks} & {n.name for n in other.spec.networks}
            if not shared:
                warnings.warn(
                    f"{where(d.name, 'links')}: {link}: {d.name} and {target} share no network; no name is made",
                    stacklevel=4,
                )
                continue
            if not ALIAS_RE.fullmatch(alias):
                raise ConfigurationError(
                    f"{where(d.name, 'links')}: {alias!r}: an alias is up to 63 letters, digits, '-' and '_'"
                )
            for network in shared:
                extra.setdefault(target, {}).setdefault(network, []).append(alias)
    out = []
    for d in defs:
        more = extra.get(d.name)
        if more:
            networks = tuple(
                dataclasses.replace(n, aliases=tuple(dict.fromkeys([*n.aliases, *more.get(n.name, [])])))
                for n in d.spec.networks
            )
            d = dataclasses.replace(d, spec=dataclasses.replace(d.spec, network=None, aliases=(), networks=networks))
        out.append(d)
    return out


def _build(path: Path, value: Any, where: str) -> tuple[Path | None, str]:
    """(context directory, Dockerfile path inside it) from a string or `context`/`dockerfile`."""
    if value is None:
        return None, DOCKERFILE
    if not isinstance(value, (str, dict)):
        raise ConfigurationError(f"{where}: a context directory, or a map with context and dockerfile")
    context, dockerfile = (
        (value, DOCKERFILE)
        if isinstance(value, str)
        else (value.get("context", "."), value.get("dockerfile") or DOCKERFILE)  # "" is the default, as in Compose
    )
    if isinstance(value, dict) and "dockerfile_inline" in value:
        warnings.warn(
            f"{where}: dockerfile_inline: not applied yet by this layer; building needs a Dockerfile in the context",
            stacklevel=4,
        )
        return (path.parent / str(context)).resolve(), DOCKERFILE
    try:
        dockerfile = validate_dockerfile(dockerfile)
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    return (
        path.parent / str(context)
    ).resolve(), dockerfile  # `up` refuses a missing Dockerfile, as Compose's build does


BUILD_READ = ("context", "dockerfile", "dockerfile_inline", "target", "args", "cache_from", "labels", "secrets")


def _build_spec(path: Path, value: Any, defined: dict[str, Any], lookup: interpolate.Lookup, where: Any) -> BuildSpec:
    """`build`'s target, args, cache_from, labels and secrets, as Compose reads them: an ARG
    named without a value takes the variable's (the shell, over `.env`) or is left out; a label
    without one is empty; a secret is read from its top-level definition, as a service's is.
    The keys not read are said, one line each; so is a cache source that is not an image."""
    if not isinstance(value, dict):
        return BuildSpec()
    at = where("build")
    for key in value:
        if key not in BUILD_READ and not _extension(key):
            warnings.warn(f"{at}.{key}: not applied yet by this layer; the image is built without it", stacklevel=4)
    args: dict[str, str] = {}
    given = value.get("args")
    pairs = [str(v).partition("=") for v in _list(given, f"{at}.args")] if not isinstance(given, dict) else []
    for key, raw in given.items() if isinstance(given, dict) else ((k, v if sep else None) for k, sep, v in pairs):
        found = lookup(str(key)) if raw is None else scalars.text(raw)
        if found is not None:
            args[str(key)] = found
    labels_given = value.get("labels")
    labels = (
        {str(k): "" if v is None else scalars.text(v) for k, v in labels_given.items()}
        if isinstance(labels_given, dict)
        else dict(str(v).partition("=")[::2] for v in _list(labels_given, f"{at}.labels"))
    )
    cache_from = [str(v) for v in _list(value.get("cache_from"), f"{at}.cache_from")]
    for source in [c for c in cache_from if not IMAGE_RE.fullmatch(c)]:
        warnings.warn(
            f"{at}.cache_from: {source!r}: not an image; the builders here reuse layers of images only, "
            "so the image is built without it",
            stacklevel=4,
        )
    secrets = _files(path, {"secrets": value.get("secrets")}, defined, lookup, lambda key: f"{at}.{key}")
    target = value.get("target")
    try:
        return BuildSpec(
            target=None if target is None else str(target),
            args=args,
            cache_from=tuple(c for c in cache_from if IMAGE_RE.fullmatch(c)),
            labels=labels,
            secrets=tuple(secrets),
        )
    except InvalidSpecError as exc:
        raise ConfigurationError(f"{at}: {exc}") from None


def _implied_dependencies(body: dict[str, Any]) -> list[str]:
    """The services a service needs without naming them under depends_on, as Compose adds them:
    `links` (`name` or `name:alias`), `volumes_from` (`name` or `name:ro`, not `container:...`),
    and `network_mode`, `ipc` and `pid` set to `service:name`."""
    links: list[Any] = body["links"] if isinstance(body.get("links"), list) else []
    sources: list[Any] = body["volumes_from"] if isinstance(body.get("volumes_from"), list) else []
    names = [str(link).split(":", 1)[0] for link in links]
    names += [str(source).split(":", 1)[0] for source in sources if not str(source).startswith("container:")]
    for key in ("network_mode", "ipc", "pid"):
        value = body.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            names.append(value.removeprefix("service:"))
    return list(dict.fromkeys(names))


def _depends_on(value: Any, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(dependencies, those to wait for until they exit 0) from a list, or a map of conditions:
    service_started and service_healthy both wait until the dependency is ready (its health
    check passes); service_completed_successfully waits until the dependency has exited 0."""
    if value is None:
        return (), ()
    if isinstance(value, list):
        return tuple(str(v) for v in value), ()
    if isinstance(value, dict):
        completed = []
        for dependency, condition in value.items():
            wanted = (condition or {}).get("condition", "service_started") if isinstance(condition, dict) else None
            if wanted == "service_completed_successfully":
                completed.append(str(dependency))
            elif wanted not in ("service_started", "service_healthy"):
                raise ConfigurationError(
                    f"{where}: {dependency}: condition {wanted!r} is not supported; "
                    "use service_started, service_healthy or service_completed_successfully"
                )
        return tuple(str(k) for k in value), tuple(completed)
    raise ConfigurationError(f"{where}: expected a list or a mapping")


def _restarted_with(value: Any) -> tuple[str, ...]:
    """The dependencies given with `restart: true` (or text Go's ParseBool reads as true, as an
    interpolated value is)."""
    if not isinstance(value, dict):
        return ()
    return tuple(str(k) for k, v in value.items() if isinstance(v, dict) and scalars.go_bool(v.get("restart")))


def _volumes_from(body: dict[str, Any]) -> set[str]:
    sources = body.get("volumes_from") if isinstance(body.get("volumes_from"), list) else []
    return {str(s).split(":", 1)[0] for s in sources or () if not str(s).startswith("container:")}
