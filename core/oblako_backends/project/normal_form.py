"""`config`: a project written back as Docker Compose v2 prints it (`docker compose config`),
its normal form, from the model `compose.read` builds."""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from .. import scalars
from ..errors import SECRET_MASK
from .compose import (
    _GO_FLOAT,
    SECRETS_DIRECTORY,
    _file_mode,
    _is_tmpfs,
    _ports,
    _volume_names,
    _volumes_from,
    byte_count,
    duration,
)
from .model import Project, ServiceDef, replica_name


def write(project: Project, show_environment: bool = False) -> dict[str, Any]:
    """The project as `docker compose config` (v2.40) prints one: its normal form (long-form
    ports and volumes, absolute paths, resolved names, every default Compose prints filled in).
    What the model holds (what `up` runs) comes from it; the keys it does not hold are printed
    from the file's service as Compose normalises them. The differences that remain are listed
    in tests/corpus/README.md.

    Environment values are secrets, so they are masked unless `show_environment`.
    """
    top = dict(project.compose or {})
    volume_keys = _volume_keys(project, top.get("volumes"))
    services = {d.name: _written_service(project, d, volume_keys, show_environment) for d in project.services}
    out: dict[str, Any] = {"name": project.name}
    networks = _written_networks(project, top.get("networks"), services)
    if networks:
        out["networks"] = networks
    for key in ("secrets", "configs"):  # those a service uses (or its build), as Compose prints them
        used = {g["source"] for s in services.values() for g in [*s.get(key, []), *s.get("build", {}).get(key, [])]}
        given = top[key] if isinstance(top.get(key), dict) else {}
        if used & set(given):
            out[key] = {k: _written_resource(project, k, v) for k, v in given.items() if k in used}
    out["services"] = services
    volumes = _written_volumes(project, top.get("volumes"), services)
    if volumes:
        out["volumes"] = volumes
    escaped: dict[str, Any] = _escaped(out)
    return escaped


# Keys printed from the model (what `up` runs), not from the file's service.
_FROM_MODEL = (
    *("image", "container_name", "build", "command", "entrypoint", "depends_on", "environment", "labels"),
    *("extra_hosts", "ports", "user", "volumes", "working_dir", "scale", "healthcheck", "networks"),
)
_NOT_PRINTED = ("extends", "env_file")  # resolved when read: Compose prints neither
_BOOLEANS = ("init", "tty", "stdin_open", "privileged", "read_only", "oom_kill_disable")
_BYTES = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")
_DURATIONS = ("stop_grace_period",)


def _written_service(
    project: Project, definition: ServiceDef, volume_keys: dict[str, str], show_environment: bool
) -> dict[str, Any]:
    spec, raw = definition.spec, dict(definition.compose or {})
    entry: dict[str, Any] = {
        k: _normal(project, k, v) for k, v in raw.items() if k not in (*_FROM_MODEL, *_NOT_PRINTED)
    }
    entry["image"] = spec.image  # when built and unnamed in the file, this layer's name (Compose prints none)
    if spec.name != replica_name(project.name, definition.name, 1):  # given in the file, as Compose prints it
        entry["container_name"] = spec.name
    if definition.build is not None:
        entry["build"] = _written_build(project, definition, raw.get("build"))
    entry["command"] = None if spec.command is None else list(spec.command)
    entry["entrypoint"] = None if spec.entrypoint is None else list(spec.entrypoint)
    if definition.depends_on:
        entry["depends_on"] = _written_depends_on(definition, raw.get("depends_on"))
    if spec.environment or definition.unset:
        entry["environment"] = {k: (v if show_environment else SECRET_MASK) for k, v in spec.environment.items()}
        entry["environment"].update(dict.fromkeys(definition.unset))
    if spec.labels:
        entry["labels"] = dict(spec.labels)
    if spec.extra_hosts:
        entry["extra_hosts"] = [f"{host}={address}" for host, address in spec.extra_hosts.items()]
    if spec.ports:
        entry["ports"] = _written_ports(definition, raw.get("ports"))
    if spec.user:
        entry["user"] = spec.user
    if spec.volumes or any(_is_tmpfs(v) for v in raw.get("volumes") or ()):
        entry["volumes"] = _written_mounts(project, definition, raw.get("volumes"), volume_keys)
    if spec.working_dir:
        entry["working_dir"] = spec.working_dir
    if "scale" in raw or (definition.compose is None and definition.replicas != 1):
        entry["scale"] = definition.replicas
    if isinstance(raw.get("healthcheck"), dict):
        entry["healthcheck"] = _written_healthcheck(raw["healthcheck"])
    elif spec.health is not None:
        entry["healthcheck"] = {
            "test": ["CMD", *spec.health.command],
            "interval": _go_duration(spec.health.interval),
            "timeout": _go_duration(spec.health.timeout),
            "retries": spec.health.retries,
            "start_period": _go_duration(spec.health.start_period),
        }
    if "network_mode" not in raw and spec.network:
        entry["networks"] = _written_service_networks(raw.get("networks"))
    return entry


def _normal(project: Project, key: str, value: Any) -> Any:
    """A key the model does not hold, in the form Compose prints it."""
    if key in _BOOLEANS and str(value).lower() in ("true", "false"):  # interpolated: a boolean
        return str(value).lower() == "true"
    if key in _BYTES and value is not None:
        return _bytes_text(value)
    if key in _DURATIONS and isinstance(value, str):
        return _go_duration(duration(value, key))
    if key in ("expose", "tmpfs", "dns", "dns_search", "cap_add", "cap_drop", "profiles"):
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if key == "sysctls" and isinstance(value, list):
        return dict(str(v).partition("=")[::2] for v in value)
    if key == "sysctls" and isinstance(value, dict):
        return {k: scalars.text(v) for k, v in value.items()}
    if key in ("secrets", "configs") and isinstance(value, list):
        return [_written_grant(key, item) for item in value]
    if key == "cpus" and _GO_FLOAT.fullmatch(str(value)):
        return float(value)
    if key == "pids_limit" and re.fullmatch(r"-?[0-9]+", str(value)):
        return int(value)
    if key == "ulimits" and isinstance(value, dict):
        return {k: _written_ulimit(v) for k, v in value.items()}
    if key == "devices" and isinstance(value, list):
        return [_written_device(item) for item in value]
    if key == "deploy" and isinstance(value, dict):
        return _written_deploy(value)
    if key == "develop" and isinstance(value, dict) and isinstance(value.get("watch"), list):
        watch = [
            {**item, "path": _host_path(project, str(item["path"]))}
            | ({} if "exec" in item else {"exec": {"command": None}})
            if isinstance(item, dict) and "path" in item
            else item
            for item in value["watch"]
        ]
        return {**value, "watch": watch}
    return value


def _host_path(project: Project, path: str) -> str:
    """A host path as Compose prints it: absolute as given, else the project directory's (cleaned);
    `~` is the home directory. Symbolic links are kept, as Compose keeps them."""
    path = os.path.expanduser(path)
    if path.startswith("/"):
        return path
    return os.path.normpath(os.path.join(project.path.parent.absolute(), path))


def _written_grant(key: str, item: Any) -> Any:
    """A service's secret or config: the long form; a secret's target is /run/secrets/<source>;
    a mode in octal text ("0440"), as Compose prints it."""
    grant = {"source": item} if isinstance(item, str) else dict(item)
    if key == "secrets" and "target" not in grant:
        grant["target"] = f"{SECRETS_DIRECTORY}/{grant['source']}"
    if "mode" in grant:  # checked when read (_files)
        grant["mode"] = f"0{_file_mode(grant['mode'], key):o}"
    return grant


def _written_ulimit(value: Any) -> Any:
    """A limit, or soft and hard ones, as numbers (an interpolated one is text)."""
    if isinstance(value, dict):
        return {k: _written_ulimit(v) for k, v in value.items()}
    return int(value) if re.fullmatch(r"-?[0-9]+", str(value)) else value


def _written_device(item: Any) -> Any:
    """A device in the long form: source, target (the source's path unless given), permissions
    (rwm unless given), as Compose splits the short form."""
    if not isinstance(item, str):
        return item
    parts = item.split(":")
    return {"source": parts[0], "target": parts[1] if len(parts) > 1 else parts[0]} | {
        "permissions": parts[2] if len(parts) > 2 else "rwm"
    }


def _written_deploy(value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    resources = out.get("resources")
    if isinstance(resources, dict):
        out["resources"] = {
            part: {
                k: _bytes_text(v) if k == "memory" else float(v) if k == "cpus" else v
                for k, v in (limits or {}).items()
            }
            for part, limits in resources.items()
        }
    if isinstance(out.get("replicas"), str) and out["replicas"].isdigit():  # interpolated: a number
        out["replicas"] = int(out["replicas"])
    out.setdefault("resources", {})
    out.setdefault("placement", {})
    return out


def _bytes_text(value: Any) -> Any:
    """A size as Compose prints it: its number of bytes, as text ("1.5g": "1610612736")."""
    try:
        return str(byte_count(value))
    except ValueError:
        return value


def _written_build(project: Project, definition: ServiceDef, raw: Any) -> dict[str, Any]:
    given = dict(raw) if isinstance(raw, dict) else {}
    context = raw if isinstance(raw, str) else given.get("context", ".")
    out: dict[str, Any] = {
        "context": _host_path(project, str(context)) if raw is not None else str(definition.build),
        "dockerfile": definition.dockerfile,
    }
    if "dockerfile_inline" in given:  # Compose prints no dockerfile then (nor for an empty one)
        del out["dockerfile"]
    for key, value in given.items():
        if key in ("context", "dockerfile"):
            continue
        if key == "args":  # as read: an ARG without a value has the variable's, or is left out
            value = dict(definition.build_spec.args)
        elif key == "labels" and isinstance(value, list):
            value = dict(str(v).partition("=")[::2] for v in value)
        elif key == "secrets" and isinstance(value, list):
            value = [{"source": v} if isinstance(v, str) else v for v in value]
        out[key] = value
    return out


def _written_depends_on(definition: ServiceDef, raw: Any) -> dict[str, Any]:
    """Every dependency with its condition and `required` (and `restart` if given); those implied
    by links, volumes_from or network_mode are started ones Compose restarts with theirs."""
    given: dict[str, Any] = raw if isinstance(raw, dict) else dict.fromkeys(raw) if isinstance(raw, list) else {}
    raw_service = dict(definition.compose or {})
    out: dict[str, Any] = {}
    for name in definition.depends_on:
        if name in given:
            condition = given[name] if isinstance(given[name], dict) else {}
            out[name] = {"condition": condition.get("condition", "service_started")}
            out[name] |= {"restart": condition["restart"]} if "restart" in condition else {}
            out[name]["required"] = condition.get("required", True)
        elif definition.compose is not None:  # implied: restarted with it, but by volumes_from
            restart = {} if name in _volumes_from(raw_service) else {"restart": True}
            out[name] = {"condition": "service_started"} | restart | {"required": True}
        else:
            out[name] = {"condition": "service_healthy", "required": True}  # a TOML file's: up waits for it
    return out


def _written_ports(definition: ServiceDef, raw: Any) -> list[dict[str, Any]]:
    """Long form, in the file's order (ranges one port each), as Compose prints them."""
    order: dict[str, int] = {}
    written: dict[str, str] = {}  # the host address the file gave a port, as Compose prints it
    for item in raw if isinstance(raw, list) else []:
        for key, _ in _ports(item, "ports", say=False):
            order.setdefault(key, len(order))
            address = item.get("host_ip") if isinstance(item, dict) else _short_address(str(item))
            if address:
                written.setdefault(key, str(address))
    ports = sorted(definition.spec.ports, key=lambda p: order.get(p.key, len(order)))
    return [
        {"mode": "ingress"}
        | ({"host_ip": written.get(p.key, p.host_ip)} if written.get(p.key, p.host_ip) else {})
        | {"target": p.container_port}
        | ({"published": str(p.host_port)} if p.host_port else {})
        | {"protocol": p.protocol}
        for p in ports
    ]


def _short_address(text: str) -> str | None:
    """The IP a short-form port names (`IP:HOST:CONTAINER`), or None."""
    text = text.rsplit("/", 1)[0]
    return text.rsplit(":", 2)[0] if text.count(":") == 2 else None


def _written_mounts(
    project: Project, definition: ServiceDef, raw: Any, volume_keys: dict[str, str]
) -> list[dict[str, Any]]:
    """Long form, in the file's order: a named volume by its key in the file, a bind's source
    as the file names it (absolute), an anonymous volume without a source; the options the file
    gives kept (a short form's: `volume: {}`, or `bind` with create_host_path and SELinux's z/Z)."""
    given: dict[str, Any] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            target = item.get("target")
        else:
            parts = str(item).split(":")
            target = parts[1] if len(parts) > 1 else parts[0]
        given.setdefault(posixpath.normpath(str(target)), item)
    order = list(given)
    mounts = sorted(definition.spec.volumes, key=lambda v: order.index(v.target) if v.target in order else len(order))
    out = []
    anonymous = f"{definition.project}_{definition.name}_anon_"
    for volume in mounts:
        item = given.get(volume.target)
        mount: dict[str, Any] = {"type": "volume" if volume.is_named else "bind"}
        if not volume.is_named and item is not None:  # the file's path, absolute, its links kept
            given_source = item.get("source") if isinstance(item, dict) else str(item).split(":")[0]
            mount["source"] = _host_path(project, str(given_source))
        elif not volume.source.startswith(anonymous):
            mount["source"] = volume_keys.get(volume.source, volume.source) if volume.is_named else volume.source
        mount["target"] = volume.target
        if volume.read_only:
            mount["read_only"] = True
        if isinstance(item, dict):
            mount |= {k: v for k, v in item.items() if k not in ("type", "source", "target", "read_only")}
        elif volume.is_named:
            mount |= {"bind": {"selinux": volume.selinux}} if volume.selinux else {}
            mount["volume"] = {}
        else:
            selinux = {"selinux": volume.selinux} if volume.selinux else {}
            mount["bind"] = selinux | {"create_host_path": True}
        out.append(mount)
    tmpfs = [(order.index(t), _written_tmpfs(item)) for t, item in given.items() if _is_tmpfs(item)]
    for index, mount in sorted(tmpfs, key=lambda pair: pair[0]):  # read into `tmpfs`: placed where the file has it
        before = sum(1 for m in out if m["type"] == "tmpfs" or order.index(m["target"]) < index)
        out.insert(before, mount)
    return out


def _written_tmpfs(item: dict[str, Any]) -> dict[str, Any]:
    """A tmpfs mount: its size in bytes (as text), its mode a number, as Compose prints them."""
    mount = dict(item)
    settings = mount.get("tmpfs")
    if isinstance(settings, dict):
        mount["tmpfs"] = {
            k: _bytes_text(v) if k == "size" else _file_mode(v, "tmpfs.mode") if k == "mode" else v
            for k, v in settings.items()
            if k != "size" or _bytes_text(v) != "0"  # no size: Compose prints none
        }
    return mount


def _written_healthcheck(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "test" and isinstance(value, str):
            value = ["CMD-SHELL", value]
        elif key in ("interval", "timeout", "start_period", "start_interval") and isinstance(value, str):
            value = _go_duration(duration(value, key))
        elif key == "retries" and isinstance(value, str) and value.isdigit():
            value = int(value)
        out[key] = value
    return out


def _written_service_networks(raw: Any) -> dict[str, Any]:
    if isinstance(raw, list):
        return dict.fromkeys(str(n) for n in raw)
    if isinstance(raw, dict) and raw:
        return {str(k): v or None for k, v in raw.items()}
    return {"default": None}


def _written_networks(project: Project, raw: Any, services: dict[str, Any]) -> dict[str, Any]:
    """The networks the services join (the default one `<project>_default`), as Compose prints them."""
    declared = raw if isinstance(raw, dict) else {}
    used = {n for s in services.values() for n in s.get("networks") or {}}
    out: dict[str, Any] = {}
    for key in sorted(used):  # the default one is `<project>_default` (Project.network), unless the file names it
        out[key] = _written_resource(project, key, declared.get(key), network=True)
    return out


_FLAGS = ("external", "internal", "attachable", "enable_ipv6")  # a top-level resource's booleans


def _written_resource(project: Project, key: str, body: Any, network: bool = False) -> dict[str, Any]:
    """A top-level network, volume, secret or config: its name resolved (`<project>_<key>`,
    unless it has one or is external), its file absolute."""
    given = dict(body) if isinstance(body, dict) else {}
    for flag in _FLAGS:  # "false" once interpolated is false, which Compose leaves out
        if flag in given:
            if scalars.go_bool(given[flag]):
                given[flag] = True
            else:
                del given[flag]
    out: dict[str, Any] = {
        "name": given.pop("name", None) or (key if given.get("external") else f"{project.name}_{key}")
    }
    if isinstance(given.get("file"), str):
        given["file"] = _host_path(project, given["file"])
    if isinstance(given.get("labels"), list):
        given["labels"] = dict(str(v).partition("=")[::2] for v in given["labels"])
    options = given.get("driver_opts")
    if isinstance(options, dict) and "bind" in str(options.get("o", "")).split(",") and "device" in options:
        given["driver_opts"] = {**options, "device": _host_path(project, str(options["device"]))}
    out |= given
    if network:  # external ones too, as Compose prints them
        out.setdefault("ipam", {})
    return out


def _volume_keys(project: Project, raw: Any) -> dict[str, str]:
    """Each named volume's key in the file, by the name it has on the runtime."""
    if not isinstance(raw, dict):
        return {}
    return {name: key for key, name in _volume_names(project.path, raw, project.name).items()}


def _written_volumes(project: Project, raw: Any, services: dict[str, Any]) -> dict[str, Any]:
    used = {m.get("source") for s in services.values() for m in s.get("volumes", []) if m["type"] == "volume"}
    if isinstance(raw, dict):
        return {str(k): _written_resource(project, str(k), v) for k, v in raw.items() if str(k) in used}
    named = {
        m["source"] for s in services.values() for m in s.get("volumes", []) if m["type"] == "volume" and "source" in m
    }
    return {name: {"name": name} for name in sorted(named)}


def _go_duration(seconds: float) -> str:
    """A duration as Go (and so Compose) prints one: "1m30s", "1.5s", "500ms", "1h0m0s", "0s"."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return f"{_decimal(nanos, size)}{unit}"
    hours, rest = divmod(nanos, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    text = f"{_decimal(rest, 1_000_000_000)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def _decimal(value: int, size: int) -> str:
    whole, fraction = divmod(value, size)
    digits = str(fraction).rjust(len(str(size)) - 1, "0").rstrip("0") if fraction else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _escaped(value: Any) -> Any:
    """Every `$` in a string written as `$$`, as Compose writes them, so the output reads back
    as the same project (interpolation would otherwise take `$HOME` for a variable)."""
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value.replace("$", "$$") if isinstance(value, str) else value
