"""Commands on a project (a services file): up, down, config, restart, pull, build."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from .. import plugins
from ..errors import ConfigurationError
from .diagnose import listing, runtime_answers
from .display import ProgressDisplay, print_json, table

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..backend import Backend
    from ..project.model import Project, ServiceDef
    from ..project.run import ServiceOutcome

TOML_FILE = "oblako.toml"  # the services file found in the current directory after the Compose names


def services_files(args: argparse.Namespace) -> list[str]:
    """FILE, or every -f FILE in order (Compose files merge), else the Compose files Compose
    would take here (project.compose.compose_files), else oblako.toml."""
    if args.file and args.file_option:
        raise ConfigurationError("give the services file as FILE or with -f FILE, not both")
    if args.file or args.file_option:
        return [args.file] if args.file else list(args.file_option)
    from pathlib import Path

    from ..project.compose import DEFAULT_FILES, compose_files

    here = Path.cwd()
    env_files = None if args.env_file is None else [Path(e) for e in args.env_file]
    found = compose_files(here, env_files) or ([here / TOML_FILE] if (here / TOML_FILE).is_file() else [])
    if not found:
        raise ConfigurationError(
            f"which services file? give FILE or -f FILE; none of {', '.join(DEFAULT_FILES)} or {TOML_FILE} is in {here}"
        )
    return [str(f) for f in found]


def _services_given(args: argparse.Namespace) -> list[str]:
    """`up SERVICE...`, as Compose takes it. The first word is the services FILE when it names a
    file (`up demo.toml`), else a service of the -f file (or the one found here)."""
    words = [*([args.file] if args.file else []), *args.services]
    if args.file and os.path.isfile(args.file):
        return list(args.services)
    args.file = None
    return words


def cmd_up(args: argparse.Namespace) -> int:
    from ..project import load
    from ..project.run import Interrupted, ProjectError, up

    backend = plugins.get_backend(args.backend)
    chosen = _services_given(args)
    project = load(services_files(args), args.project, args.profile, args.env_file)  # checked before anything starts
    if chosen:
        project = project.only(chosen)
    if not runtime_answers(backend):
        return 1
    show = ProgressDisplay(quiet=args.quiet)

    def progress(service: str, line: str) -> None:
        show(line, f"[{service}]", f"[{service}] ")

    if args.no_start:
        from ..project.run import create

        made = create(project, backend, progress)
        if args.json:
            print_json([{"service": o.name, "container": o.container, "state": "created"} for o in made])
        else:
            table([["SERVICE", "CONTAINER", "STATE"], *([o.name, o.container, "created"] for o in made)])
        return 0
    cancel, hurry, prepared = threading.Event(), threading.Event(), threading.Event()

    def interrupted(signum: int, frame: object) -> None:
        """First Ctrl-C or SIGTERM: stop what this `up` started. Second: remove it at once.
        Before any service started (making the network, perhaps waiting for another `up`'s
        lock on it), there is nothing to stop: end at once."""
        if not prepared.is_set():
            cancel.set()
            raise Interrupted(
                "interrupted before any service started: none of them runs (a network or volume this up "
                "made stays until `down`)",
                [],
            )
        if cancel.is_set():
            hurry.set()
            print("oblako-backends: interrupted again; removing at once", file=sys.stderr, flush=True)
        else:
            cancel.set()
            print(
                "oblako-backends: interrupted; stopping what this up started (Ctrl-C again: remove at once)",
                file=sys.stderr,
                flush=True,
            )

    before = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcomes = up(project, backend, progress, jobs=args.jobs, cancel=cancel, hurry=hurry, prepared=prepared)
    except Interrupted as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        return 130
    except ProjectError as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        for outcome in exc.outcomes:
            print(f"--- {outcome.name}: {outcome.error}", file=sys.stderr)
            for line in outcome.logs.splitlines()[-20:]:
                print(f"    {line}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if args.json:
        print_json([{"service": o.name, "container": o.container, "endpoints": o.endpoints} for o in outcomes])
        return 0
    rows = [["SERVICE", "CONTAINER", "ENDPOINTS"]]
    rows += [[o.name, o.container, ", ".join(o.endpoints) or "-"] for o in outcomes]
    table(rows)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """The normalised project, as `docker compose config` prints one. No runtime is asked."""
    from ..project import load
    from ..project.normal_form import write

    data = write(
        load(services_files(args), args.project, args.profile, args.env_file), show_environment=args.show_environment
    )
    if args.json:
        print_json(data)
        return 0
    import yaml  # only here: nothing else needs it

    sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ..project import load
    from ..project.run import down, orphans, remove_volumes

    backend = plugins.get_backend(args.backend)
    files = services_files(args)
    project = load(files, args.project, args.profile, args.env_file)
    listed = listing(backend)  # one request: does the runtime answer, and what is there
    if listed is None:
        return 1
    every = {d.name for d in project.services}
    if any(i.project == project.name and i.service not in every for i in listed):  # an orphan, or a profile's
        every = {d.name for d in load(files, args.project, ["*"], args.env_file).services}  # profiles too
    left = orphans(project, backend, every, listed)
    if left and not args.remove_orphans:
        print(
            f"oblako-backends: found orphan containers ({', '.join(i.name for i in left)}) for this project: "
            "their services are no longer in the file; `down --remove-orphans` removes them",
            file=sys.stderr,
        )
    errors = down(project, backend, remove=left if args.remove_orphans else (), listed=listed)
    for service, error in errors.items():
        print(f"oblako-backends: {service}: {error}", file=sys.stderr)
    if args.volumes and not errors:
        volumes = remove_volumes(project, backend)
        for name in volumes.removed:
            print(f"removed volume {name}")
        for name in volumes.not_ours:
            print(
                f"oblako-backends: kept volume {name} (it existed before this project: its data stays)", file=sys.stderr
            )
        for name, why in volumes.failed.items():
            print(f"oblako-backends: kept volume {name} ({why})", file=sys.stderr)
        return 1 if volumes.failed else 0
    return 1 if errors else 0


def _chosen(args: argparse.Namespace) -> tuple[Backend, list[ServiceDef]]:
    """The backend, and the project's services `args` names (all when none): exactly those,
    not what they depend on (Compose's `pull` and `build` take them so)."""
    from ..project import load

    backend = plugins.get_backend(args.backend)
    chosen = _services_given(args)
    project = load(services_files(args), args.project, args.profile, args.env_file)
    if chosen:
        project.only(chosen)  # an unknown name is refused, naming the services there are
    return backend, [d for d in project.services if not chosen or d.name in chosen]


def cmd_pull(args: argparse.Namespace) -> int:
    """`docker compose pull`: each image a service runs (a built one is built, not pulled)."""
    backend, services = _chosen(args)
    if not runtime_answers(backend):
        return 1
    show = ProgressDisplay(quiet=args.quiet)
    for definition in services:
        if definition.build is None:
            key = f"[{definition.name}]"
            backend.ensure_image(definition.spec.image, progress=lambda line: show(line, key))  # noqa: B023 (called now)
            print(f"{definition.name}: {definition.spec.image}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """`docker compose build`: each service with `build`, from its context and Dockerfile."""
    backend, services = _chosen(args)
    built = [d for d in services if d.build is not None]
    if not built:
        print("oblako-backends: no service here has `build`; nothing to build", file=sys.stderr)
        return 0
    if not runtime_answers(backend):
        return 1
    from ..project.run import refuse_unbuildable

    refuse_unbuildable(services_files(args)[0], built, backend)
    show = ProgressDisplay(quiet=args.quiet)
    for definition in built:
        key = f"[{definition.name}]"
        backend.build_image(
            definition.spec.image,
            str(definition.build),
            lambda line: show(line, key),  # noqa: B023 (called now)
            definition.dockerfile,
            definition.build_spec,
        )
        print(f"{definition.name}: {definition.spec.image}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """`docker compose start [SERVICE...]`: the containers `up --no-start` made, started and waited for."""
    from ..project.run import start

    return _start_again(args, start, "started")


def cmd_restart(args: argparse.Namespace) -> int:
    """`docker compose restart [SERVICE...]`: stopped and started again, each waited for."""
    from ..project.run import restart

    return _start_again(args, restart, "restarted")


def _start_again(
    args: argparse.Namespace, action: Callable[[Project, Backend, list[str]], list[ServiceOutcome]], done: str
) -> int:
    """`start` and `restart`: the project's chosen services handed to `action`, each said `done`."""
    from ..project import load
    from ..project.run import ProjectError

    backend = plugins.get_backend(args.backend)
    chosen = _services_given(args)
    project = load(services_files(args), args.project, args.profile, args.env_file)
    if not runtime_answers(backend):
        return 1
    try:
        outcomes = action(project, backend, chosen)
    except ProjectError as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(f"{outcome.name}: {outcome.container} {done}")
    return 0
