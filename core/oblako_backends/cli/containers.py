"""Commands on one container by name (or a project's service): run, adopt, ps, status, logs, stop, rm, exec, port."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from .. import plugins
from ..errors import ConfigurationError, InvalidSpecError, NotOwnedError, OblakoBackendError
from ..models import RUNNING, Processes
from .display import (
    ProgressDisplay,
    compose_command,
    compose_status,
    human_duration,
    ports_text,
    print_json,
    ps_json,
    table,
)

if TYPE_CHECKING:
    from ..backend import Backend


def _split_pair(option: str, value: str, sep: str) -> tuple[str, str]:
    key, found, rest = value.partition(sep)
    if not found or not key:
        raise InvalidSpecError(option, value, f"expected KEY{sep}VALUE")
    return key, rest


def project_of(args: argparse.Namespace) -> str | None:
    """The project a command names: `--project`, else the one `--file` makes (as `up` names
    it), else None (the command is about one container by name)."""
    if args.project is not None:
        return str(args.project)
    if args.file is None:
        return None
    from ..project import load

    return load(args.file).name


def _environment(items: list[str]) -> dict[str, str]:
    """`-e KEY=VALUE` options; a bare KEY takes this shell's value, as Docker's CLI does."""
    environment: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            if item not in os.environ:
                raise InvalidSpecError("-e", item, "expected KEY=VALUE (or KEY set in this shell)")
            environment[item] = os.environ[item]
        else:
            key, value = _split_pair("-e", item, "=")
            environment[key] = value
    return environment


def spec_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """ContainerSpec keyword fields from docker-style command-line options."""
    from ..spec import parse_port, parse_volume

    ports = dict(parse_port(item) for item in args.publish)
    environment = _environment(args.env)
    volumes = dict(parse_volume(item) for item in args.volume)
    labels = dict(_split_pair("-l", item, "=") for item in args.label)
    command = list(args.cmd)
    return {
        "name": args.name,
        "image": args.image,
        "ports": ports,
        "environment": environment,
        "volumes": volumes,
        "command": command or None,
        "working_dir": args.workdir,
        "user": args.user,
        "labels": labels,
    }


def cmd_run(args: argparse.Namespace) -> int:
    if args.file_option:
        return _one_off(args)
    if args.rm or args.project:
        raise ConfigurationError("--rm and --project go with -f FILE (a service's one-off)")
    if args.name is None:
        import secrets

        args.name = f"oblako-run-{secrets.token_hex(4)}"
    from ..spec import ContainerSpec

    spec = ContainerSpec(**spec_from_args(args))  # validated before any runtime is touched
    backend = plugins.get_backend(args.backend)
    show = ProgressDisplay(quiet=args.quiet)  # a person sees a long pull
    backend.ensure_image(spec.image, progress=lambda line: show(line, spec.image))
    backend.run(spec)
    print(spec.name)
    return 0


def cmd_adopt(args: argparse.Namespace) -> int:
    fields = spec_from_args(args)
    name, image = fields.pop("name"), fields.pop("image")
    backend = plugins.get_backend(args.backend)
    from ..service import Service

    svc = Service(name, image, backend=backend, container_name=name, adopt=True, **fields)
    before = backend.inspect(name)
    if before is not None and not before.owned and not svc.adoptable(before):
        raise NotOwnedError(f"{name!r} was not adopted: oblako-backends did not create it{svc.why_not_adopted(before)}")
    show = ProgressDisplay(quiet=args.quiet)
    backend.ensure_image(image, progress=lambda line: show(line, image))
    svc.start()
    if before is not None and not before.owned:
        print(f"oblako-backends: adopted {name} (it ran {before.image}); its named volumes were kept", file=sys.stderr)
    print(name)
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    project = project_of(args)
    if args.services and project is None:
        raise ConfigurationError("ps SERVICE... needs --project NAME or --file FILE (the services of which project?)")
    infos = [
        i
        for i in plugins.get_backend(args.backend).list()
        if (args.all or i.state == RUNNING)
        and (project is None or i.project == project)
        and (not args.services or i.service in args.services)
    ]
    if args.json:
        print_json(
            [
                {
                    "name": i.name,
                    "state": str(i.state),
                    "image": i.image,
                    "service": i.service,
                    "project": i.project,
                    "ports": [p.__dict__ for p in i.ports],
                }
                for i in infos
            ]
        )
        return 0
    now = time.time()
    if args.format == "json":  # as Compose's: one object per line
        for i in infos:
            print(json.dumps(ps_json(i, now), sort_keys=True))
        return 0
    if project is None:
        rows = [["NAME", "PROJECT", "STATE", "IMAGE", "PORTS"]]
        rows += [[i.name, i.project or "-", str(i.state), i.image, ports_text(i)] for i in infos]
        table(rows)
        return 0
    rows = [["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]]  # Compose's columns
    for i in infos:
        created = "" if i.created is None else f"{human_duration(now - i.created)} ago"
        ports = "" if not i.ports else ports_text(i)
        rows.append(
            [i.name, i.image, compose_command(i, not args.no_trunc), i.service or "", created, compose_status(i), ports]
        )
    table(rows)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    print(plugins.get_backend(args.backend).status(args.name))
    return 0


def _log_window(args: argparse.Namespace) -> dict[str, Any]:
    """--since, --until and --timestamps as `Backend.logs` takes them (refused here when unreadable)."""
    from ..spec import log_moment

    now = time.time()
    return {
        "since": None if args.since is None else log_moment("--since", args.since, now),
        "until": None if args.until is None else log_moment("--until", args.until, now),
        "timestamps": args.timestamps,
    }


def cmd_logs(args: argparse.Namespace) -> int:
    window = _log_window(args)
    backend = plugins.get_backend(args.backend)
    project = project_of(args)
    if project is None:
        if len(args.names) != 1:
            raise ConfigurationError("logs takes one container NAME, or --project/--file with SERVICE names")
        return _container_logs(backend, args.names[0], args, window)
    from ..project.run import containers as containers_of

    containers = containers_of(project, backend)
    unknown = [n for n in args.names if n not in containers]
    if unknown or not containers:
        known = ", ".join(sorted(containers)) or "none"
        what = f"no service {unknown[0]!r} in" if unknown else "no containers of"
        raise OblakoBackendError(f"{what} project {project!r} (its services here: {known})")
    chosen = {  # a service's lines are prefixed with its name; a replica's with `<service>-<n>`, as Compose does
        (service if len(names) == 1 else name.removeprefix(f"{project}-")): name
        for service in (args.names or sorted(containers))
        for names in [containers[service]]
        for name in names
    }
    width = max(len(service) for service in chosen)
    if not args.follow:
        for service, name in chosen.items():
            for line in backend.logs(name, tail=args.tail, **window).splitlines():
                print(f"{service:{width}} | {line}")
        return 0
    return _follow_all(backend, chosen, width, args.tail, window)


def _container_logs(backend: Backend, name: str, args: argparse.Namespace, window: dict[str, Any]) -> int:
    if backend.inspect(name) is None:
        raise OblakoBackendError(f"no such container: {name} (on {backend.name}; `oblako-backends ps -a` lists them)")
    if not args.follow:
        sys.stdout.write(backend.logs(name, tail=args.tail, **window))
        return 0
    with backend.follow_logs(name, tail=args.tail, **window) as stream:
        for line in stream:
            print(line, flush=True)
    return 0


def _follow_all(backend: Backend, chosen: dict[str, str], width: int, tail: int, window: dict[str, Any]) -> int:
    """Follow every chosen service at once, one `service |` prefixed line at a time, until all
    end (or Ctrl-C); the first error ends the command."""
    lock = threading.Lock()
    errors: list[OblakoBackendError] = []
    streams = {service: backend.follow_logs(name, tail=tail, **window) for service, name in chosen.items()}

    def pump(service: str) -> None:
        try:
            for line in streams[service]:
                with lock:
                    print(f"{service:{width}} | {line}", flush=True)
        except OblakoBackendError as exc:
            errors.append(exc)
            for stream in streams.values():
                stream.close()

    threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in streams]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)
    finally:
        for stream in streams.values():
            stream.close()
    if errors:
        raise errors[0]
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    """`docker top NAME`, or with --project/--file `docker compose top [SERVICE...]`: one table
    of every running container's processes, SERVICE and # (its replica) first, CMD last."""
    backend = plugins.get_backend(args.backend)
    project = project_of(args)
    if project is None:
        if len(args.names) != 1:
            raise ConfigurationError("top takes one container NAME, or --project/--file with SERVICE names")
        found = backend.top(args.names[0])
        table([list(found.titles), *(list(row) for row in found.rows)])
        return 0
    running = sorted((i for i in backend.list() if i.project == project and i.state == RUNNING), key=lambda i: i.name)
    services = {i.service or i.name for i in running}
    unknown = [n for n in args.names if n not in services]
    if unknown:
        known = ", ".join(sorted(services)) or "none"
        raise OblakoBackendError(f"no service {unknown[0]!r} running in project {project!r} (its services: {known})")
    rows = top_rows(
        [
            (i.service or i.name, replica_number(i.name), backend.top(i.name, project=project))
            for i in running
            if not args.names or (i.service or i.name) in args.names
        ]
    )
    if rows:
        table(rows)
    return 0


def replica_number(container: str) -> str:
    """The replica a container is (Compose's `#`): the number its name ends with, else 1."""
    last = container.rsplit("-", 1)[-1]
    return last if last.isascii() and last.isdigit() else "1"


def top_rows(found: list[tuple[str, str, Processes]]) -> list[list[str]]:
    """Compose's `top` table from (service, replica, processes) per container: the titles of
    all of them in the order first seen after SERVICE and #, CMD last, "-" where one has no such
    column. Empty when no container runs a process."""
    titles = ["SERVICE", "#"]
    for _, _, processes in found:
        titles += [t for t in processes.titles if t not in titles]
    if "CMD" in titles:
        titles = [t for t in titles if t != "CMD"] + ["CMD"]
    rows = [
        [
            {"SERVICE": service, "#": replica, **dict(zip(processes.titles, row, strict=False))}.get(t, "-")
            for t in titles
        ]
        for service, replica, processes in found
        for row in processes.rows
    ]
    return [titles, *rows] if rows else []


def cmd_stop(args: argparse.Namespace) -> int:
    plugins.get_backend(args.backend).stop(args.name, timeout=args.timeout)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    plugins.get_backend(args.backend).remove(args.name)
    return 0


def _container(backend: Backend, args: argparse.Namespace) -> str:
    """The container `args.name` means: itself, or with --project/--file that service's replica."""
    project = project_of(args)
    if project is None:
        return str(args.name)
    from ..project.run import containers as containers_of

    found = containers_of(project, backend)
    if args.name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise OblakoBackendError(f"no service {args.name!r} running in project {project!r} (its services: {known})")
    replicas = sorted(found[args.name], key=lambda n: (len(n), n))  # <service>-2 before <service>-10
    if args.index > len(replicas):
        raise OblakoBackendError(f"service {args.name!r} has {len(replicas)} container(s); no --index {args.index}")
    return str(replicas[args.index - 1])


def cmd_exec(args: argparse.Namespace) -> int:
    """`docker compose exec -T`: the command's output as written, then its exit code as ours."""
    if not args.cmd:
        raise ConfigurationError("exec needs a command after NAME (e.g. `exec db -- sh -c 'ls /'`)")
    backend = plugins.get_backend(args.backend)
    out = sys.stdout.buffer

    def write(chunk: bytes) -> None:
        out.write(chunk)
        out.flush()

    return backend.exec(
        _container(backend, args),
        list(args.cmd),
        environment=_environment(args.env),
        working_dir=args.workdir,
        user=args.user,
        output=write,
        timeout=args.timeout,
    )


def cmd_port(args: argparse.Namespace) -> int:
    """`docker compose port`: ADDRESS:PORT for each place the container port is published."""
    backend = plugins.get_backend(args.backend)
    name = _container(backend, args)
    info = backend.inspect(name)
    if info is None:
        raise OblakoBackendError(f"no such container: {name} (on {backend.name}; `oblako-backends ps -a` lists them)")
    found = [p for p in info.ports if p.container_port == args.private_port and p.protocol == args.protocol]
    if not found:
        raise OblakoBackendError(f"{name}: port {args.private_port}/{args.protocol} is not published")
    for port in found:
        host = info.engine_host or port.host_ip or "0.0.0.0"  # noqa: S104 (what the engine reports)
        print(f"[{host}]:{port.host_port}" if ":" in host else f"{host}:{port.host_port}")
    return 0


def _one_off(args: argparse.Namespace) -> int:
    """`run -f FILE [--rm] SERVICE [CMD...]`: Compose's run. Its output is printed as written,
    and its exit code is ours. The container options of `run` do not apply to a service."""
    given = [f"{flag}" for flag, value in (("-p", args.publish), ("-e", args.env), ("-v", args.volume),
             ("-l", args.label), ("-w", args.workdir), ("-u", args.user), ("--name", args.name)) if value]  # fmt: skip
    if given:
        raise ConfigurationError(f"{', '.join(given)} cannot be given with -f: the service's file says those")
    from ..project import load
    from ..project.run import one_off

    project = load(list(args.file_option), args.project)
    backend = plugins.get_backend(args.backend)
    return one_off(project, backend, args.image, list(args.cmd), lambda line: print(line, flush=True), args.rm)
