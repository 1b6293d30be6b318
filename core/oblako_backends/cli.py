"""The ``oblako-backends`` command: see what is installed, diagnose, and run containers.

Exit codes: 0 success, 1 the operation failed (cause on stderr), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import config
from .errors import (
    ConfigurationError,
    InvalidSpecError,
    NotOwnedError,
    OblakoBackendError,
    RuntimeUnavailableError,
    UnknownBackendError,
)
from .models import RUNNING, ContainerInfo
from .plugins import INSTALL_ONE, REFERENCE_BACKENDS, answering_instead, get_backend, list_backends

if TYPE_CHECKING:
    from .backend import Backend
    from .reach import Reach

# What only some commands need (specs, services files, Compose) is imported inside them, so a
# quick command such as `ps` starts as fast as a plain docker-py script (bench/ps.py).


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_completion(args: argparse.Namespace) -> int:
    """A completion script for `args.shell`, generated from this parser, so it never drifts."""
    print(completion_script(build_parser(), args.shell))
    return 0


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """Completion of commands, their options and backend names: one function, written in
    bash's or zsh's own terms."""
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]

    def options(p: argparse.ArgumentParser) -> list[str]:
        return [s for a in p._actions for s in a.option_strings]

    # Before the command only global options come; those taking a value hide the word after them.
    valued = [s for a in parser._actions if a.option_strings and a.nargs is None for s in a.option_strings]
    cases = [f'    "") choices="{" ".join([*sub.choices, *options(parser)])}" ;;']
    for name, command in sub.choices.items():
        flags = options(command)
        choices = [c for a in command._actions if not a.option_strings and a.choices for c in a.choices]
        cases.append(f'    {name}) choices="{" ".join([*choices, *flags])}" ;;')
    backends = " ".join(sorted({n for b in list_backends() for n in b.names}))
    # The same logic in each shell's own terms: bash counts words from 0 in COMP_WORDS and
    # filters with compgen; zsh counts from 1 in `words` and filters what compadd is given.
    if shell == "bash":
        line, last, first, offer = "COMP_WORDS", "COMP_CWORD", 1, 'COMPREPLY=($(compgen -W "$choices" -- "$cur"))'
        head, tail = "", "complete -F _oblako_backends oblako-backends"
    else:
        line, last, first, offer = "words", "CURRENT", 2, "compadd -- ${=choices}"
        head, tail = "#compdef oblako-backends\n", "compdef _oblako_backends oblako-backends"
    at = f"{last} - 1"
    return f"""{head}# oblako-backends {shell} completion: eval "$(oblako-backends completion {shell})"
_oblako_backends() {{
  local cur=${{{line}[{last}]}} prev=${{{line}[{at}]}} cmd="" choices i
  if [[ $prev == --backend ]]; then choices="{backends}"; {offer}; return; fi
  for ((i = {first}; i < {last}; i++)); do
    case ${{{line}[i]}} in
      {"|".join(sorted(set(valued)))}) ((i++)) ;;
      -*) ;;
      *) cmd=${{{line}[i]}}; break ;;
    esac
  done
  case $cmd in
{chr(10).join(cases)}
    *) choices="" ;;
  esac
  {offer}
}}
{tail}"""


def cmd_list(args: argparse.Namespace) -> int:
    """Installed backends, each checked by importing it (a broken one shows its reason)."""
    infos = list_backends(check=True)
    if args.json:
        _print_json([{**i.as_dict(), "reference": i.name in REFERENCE_BACKENDS} for i in infos])
        return 0
    rows = [["NAME", "ALIASES", "DISTRIBUTION", "VERSION", "STATUS"]]
    for i in infos:
        status = "ok" if i.problem is None else f"broken: {i.problem}"
        if i.unavailable:
            status = f"unavailable: {i.unavailable}"
        if i.name in REFERENCE_BACKENDS and i.problem is None:
            status = "reference: in-process, runs no container (for tests of code built on this layer)"
        rows.append([i.name, ",".join(i.aliases) or "-", i.distribution, i.version, status])
    _table(rows)
    if not [i for i in infos if i.name not in REFERENCE_BACKENDS]:
        print(f"no container runtime backend is installed; {INSTALL_ONE}", file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Which backend would be used and why, and whether its runtime answers."""
    backend = get_backend(args.backend)
    why = backend.selected_by
    probe = backend.probe()
    reach = _reach(backend, args.reach) if args.reach and probe.reachable else None
    if args.json:
        found = {"reach": [r.as_dict() for r in reach]} if reach is not None else {}
        _print_json({"selected": backend.name, "selected_by": why, **probe.as_dict(), **found})
        return 0 if probe.reachable else 1
    dist = f"{backend.info.distribution} {backend.info.version}" if backend.info else "?"
    lines = [
        ("backend", f"{backend.name} (selected by {why}; from {dist})"),
        (
            "endpoint",
            f"{probe.endpoint or '-'}" + (f" (from {probe.endpoint_source})" if probe.endpoint_source else ""),
        ),
        ("reachable", "yes" if probe.reachable else "NO"),
    ]
    if probe.reachable:
        lines += [
            ("engine", f"{probe.engine} {probe.version}".strip()),
            ("capabilities", ", ".join(sorted(probe.capabilities)) or "-"),
        ]
    lines += [(k, v) for k, v in sorted(probe.details.items())]
    if probe.error:
        lines.append(("error", probe.error))
    if probe.hint:
        lines.append(("what to do", probe.hint))
    instead = answering_instead(backend.name) if not probe.reachable else None
    if instead:
        lines.append(("instead", instead))
    if reach is not None:
        lines += _reach_lines(reach)
    width = max(14, *(len(key) + 2 for key, _ in lines))
    for key, value in lines:
        print(f"{key + ':':{width}}{value}")
    return 0 if probe.reachable else 1


def _reach(backend: Backend, image: str) -> list[Reach]:
    from .reach import measure
    from .spec import validate_image

    return measure(backend, validate_image(image))


def _reach_lines(found: list[Reach]) -> list[tuple[str, str]]:
    """doctor's words for `--reach`: yes or NO, to what address, how, and why not."""
    lines = []
    for r in found:
        words = f"{'yes' if r.reached else 'NO'}: {r.address} through {r.via}"
        lines.append((f"reach from {r.vantage}", words + (f" ({r.error})" if r.error else "")))
    by_vantage = {r.vantage: r.reached for r in found}
    if by_vantage.get("the project network") and not by_vantage.get("the default network", True):
        lines.append(
            (
                "what to do",
                "on this engine a published port is not reached from other networks than the service's (rootful "
                "Podman publishes it on the gateway of the service's network only): put a container that needs a "
                "project's published port on that project's network",
            )
        )
    return lines


def _split_pair(option: str, value: str, sep: str) -> tuple[str, str]:
    key, found, rest = value.partition(sep)
    if not found or not key:
        raise InvalidSpecError(option, value, f"expected KEY{sep}VALUE")
    return key, rest


def spec_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """ContainerSpec keyword fields from docker-style command-line options."""
    from .spec import parse_port, parse_volume

    ports = dict(parse_port(item) for item in args.publish)
    environment: dict[str, str] = {}
    for item in args.env:
        if "=" not in item:
            if item not in os.environ:
                raise InvalidSpecError("-e", item, "expected KEY=VALUE (or KEY set in this shell)")
            environment[item] = os.environ[item]
        else:
            key, value = _split_pair("-e", item, "=")
            environment[key] = value
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


class ProgressDisplay:
    """Pull and build progress on stderr, one line per image aggregated over its layers.

    On a terminal each image's line is redrawn in place; otherwise an image's latest line is
    printed at most once a second (and its last one when it is done). Other lines (a service
    started, ready) always print. `quiet` shows none of it.
    """

    LAYER = re.compile(
        r"(?P<layer>[0-9a-f]{12}) (?P<status>[A-Za-z ]+?)(?: \[[=> ]*\]\s*(?P<done>\S+)/(?P<size>\S+))?$"
    )
    FINISHED = ("Pull complete", "Already exists", "Download complete")

    def __init__(self, stream: Any = None, *, quiet: bool = False, interval: float = 1.0):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.layers: dict[str, dict[str, str]] = {}  # image: {layer: its latest status}
        self.shown: dict[str, float] = {}  # image: when its line was last printed (plain output)
        self.drawn: list[str] = []  # images whose lines are on screen, in order (terminal)
        self.lock = threading.Lock()

    def __call__(self, line: str, key: str = "", prefix: str = "") -> None:
        """One progress line. Layer lines are aggregated into one line for `key` (an image, or
        `[service]`); any other line prints as it is, after `prefix`."""
        if self.quiet:
            return
        with self.lock:
            layer = self.LAYER.match(line)
            if not key or layer is None:
                self._plain(prefix + line)
                return
            self.layers.setdefault(key, {})[layer["layer"]] = (
                f"{layer['status']} {layer['done']}/{layer['size']}" if layer["done"] else layer["status"]
            )
            self._image_line(key)

    def summary(self, key: str) -> str:
        layers = self.layers.get(key, {})
        finished = sum(1 for status in layers.values() if status in self.FINISHED)
        moving = [status for status in layers.values() if status not in self.FINISHED]
        return f"{key} pulling: {finished}/{len(layers)} layers done" + (f", {moving[0]}" if moving else "")

    def _image_line(self, image: str) -> None:
        text = self.summary(image)
        if self.tty:
            if image not in self.drawn:
                self.drawn.append(image)
                self.stream.write(text + "\n")
            else:
                up = len(self.drawn) - self.drawn.index(image)
                self.stream.write(f"\x1b[{up}A\r\x1b[K{text}\x1b[{up}B\r")
            self.stream.flush()
            return
        now = time.monotonic()
        done = all(status in self.FINISHED for status in self.layers[image].values())
        if done or now - self.shown.get(image, -self.interval) >= self.interval:
            self.shown[image] = now
            self._plain(text)

    def _plain(self, line: str) -> None:
        self.drawn = []  # a plain line scrolls the drawn block away: later updates start a new one
        self.stream.write(line + "\n")
        self.stream.flush()


def cmd_run(args: argparse.Namespace) -> int:
    if args.name is None:
        import secrets

        args.name = f"oblako-run-{secrets.token_hex(4)}"
    from .spec import ContainerSpec

    spec = ContainerSpec(**spec_from_args(args))  # validated before any runtime is touched
    backend = get_backend(args.backend)
    show = ProgressDisplay(quiet=args.quiet)  # a person sees a long pull
    backend.ensure_image(spec.image, progress=lambda line: show(line, spec.image))
    backend.run(spec)
    print(spec.name)
    return 0


def cmd_adopt(args: argparse.Namespace) -> int:
    fields = spec_from_args(args)
    name, image = fields.pop("name"), fields.pop("image")
    backend = get_backend(args.backend)
    from .service import Service

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


def _reachable(backend: Backend) -> bool:
    """Say once, up front, that the runtime is not there (rather than once per service). One
    listing answers that: cheaper than a full probe, whose details only `doctor` shows."""
    try:
        backend.list()
    except RuntimeUnavailableError as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        instead = answering_instead(backend.name)
        if instead:
            print(f"oblako-backends: {instead}", file=sys.stderr)
        print("oblako-backends: `oblako-backends doctor` says more", file=sys.stderr)
        return False
    return True


def cmd_up(args: argparse.Namespace) -> int:
    from .stack import Interrupted, StackError, load as load_stack, up

    backend = get_backend(args.backend)
    stack = load_stack(_services_file(args), backend, args.project)  # checked before anything starts
    if not _reachable(backend):
        return 1
    show = ProgressDisplay(quiet=args.quiet)

    def progress(service: str, line: str) -> None:
        show(line, f"[{service}]", f"[{service}] ")

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
        outcomes = up(stack, progress, jobs=args.jobs, cancel=cancel, hurry=hurry, prepared=prepared)
    except Interrupted as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        return 130
    except StackError as exc:
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
        _print_json([{"service": o.name, "endpoints": o.endpoints} for o in outcomes])
        return 0
    rows = [["SERVICE", "CONTAINER", "ENDPOINTS"]]
    by_name = {d.name: d for d in stack.services}
    rows += [[o.name, by_name[o.name].service.container_name, ", ".join(o.endpoints) or "-"] for o in outcomes]
    _table(rows)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """The normalised project, as `docker compose config` prints one. No runtime is asked."""
    from .stack import document, load as load_stack

    stack = load_stack(_services_file(args), None, args.project)
    data = document(stack, show_environment=args.show_environment)
    if args.json:
        _print_json(data)
        return 0
    import yaml  # only here: nothing else needs it

    sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from .stack import down, load as load_stack, remove_volumes

    backend = get_backend(args.backend)
    stack = load_stack(_services_file(args), backend, args.project)
    if not _reachable(backend):
        return 1
    errors = down(stack)
    for service, error in errors.items():
        print(f"oblako-backends: {service}: {error}", file=sys.stderr)
    if args.volumes and not errors:
        if "remove_volumes" not in backend.capabilities:
            raise OblakoBackendError(
                f"the {backend.name} backend cannot remove volumes; remove them with its own tools"
            )
        volumes = remove_volumes(stack)
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


def _ports_text(info: ContainerInfo) -> str:
    return ", ".join(f"{p.host_ip}:{p.host_port}->{p.container_port}/{p.protocol}" for p in info.ports) or "-"


TOML_FILE = "oblako.toml"  # the services file found in the current directory after the Compose names


def _services_file(args: argparse.Namespace) -> str:
    if args.file and args.file_option:
        raise ConfigurationError("give the services file once: as FILE or as -f FILE")
    if args.file or args.file_option:
        return str(args.file or args.file_option)
    from pathlib import Path

    from .compose import DEFAULT_FILES, find_default

    here = Path.cwd()
    found = find_default(here) or (here / TOML_FILE if (here / TOML_FILE).is_file() else None)
    if found is None:
        raise ConfigurationError(
            f"which services file? give FILE or -f FILE; none of {', '.join(DEFAULT_FILES)} or {TOML_FILE} is in {here}"
        )
    return str(found)


def cmd_ps(args: argparse.Namespace) -> int:
    infos = [
        i
        for i in get_backend(args.backend).list()
        if (args.all or i.state == RUNNING) and (args.project is None or i.project == args.project)
    ]
    if args.json:
        _print_json(
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
    rows = [["NAME", "PROJECT", "STATE", "IMAGE", "PORTS"]]
    rows += [[i.name, i.project or "-", str(i.state), i.image, _ports_text(i)] for i in infos]
    _table(rows)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    print(get_backend(args.backend).status(args.name))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    backend = get_backend(args.backend)
    if args.project is None and args.file is None:
        if len(args.names) != 1:
            raise ConfigurationError("logs takes one container NAME, or --project/--file with SERVICE names")
        return _container_logs(backend, args.names[0], args)
    from .stack import load as load_stack

    project = args.project or load_stack(args.file, backend).project
    containers = {i.service or i.name: i.name for i in backend.list() if i.project == project}
    unknown = [n for n in args.names if n not in containers]
    if unknown or not containers:
        known = ", ".join(sorted(containers)) or "none"
        what = f"no service {unknown[0]!r} in" if unknown else "no containers of"
        raise OblakoBackendError(f"{what} project {project!r} (its services here: {known})")
    chosen = {service: containers[service] for service in (args.names or sorted(containers))}
    width = max(len(service) for service in chosen)
    if not args.follow:
        for service, name in chosen.items():
            for line in backend.logs(name, tail=args.tail).splitlines():
                print(f"{service:{width}} | {line}")
        return 0
    return _follow_all(backend, chosen, width, args.tail)


def _container_logs(backend: Backend, name: str, args: argparse.Namespace) -> int:
    if backend.inspect(name) is None:
        raise OblakoBackendError(f"no such container: {name} (on {backend.name}; `oblako-backends ps -a` lists them)")
    if not args.follow:
        sys.stdout.write(backend.logs(name, tail=args.tail))
        return 0
    with backend.follow_logs(name, tail=args.tail) as stream:
        for line in stream:
            print(line, flush=True)
    return 0


def _follow_all(backend: Backend, chosen: dict[str, str], width: int, tail: int) -> int:
    """Follow every chosen service at once, one `service |` prefixed line at a time, until all
    end (or Ctrl-C); the first error ends the command."""
    lock = threading.Lock()
    errors: list[OblakoBackendError] = []
    streams = {service: backend.follow_logs(name, tail=tail) for service, name in chosen.items()}

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


def cmd_stop(args: argparse.Namespace) -> int:
    get_backend(args.backend).stop(args.name, timeout=args.timeout)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    get_backend(args.backend).remove(args.name)
    return 0


def _non_negative(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """A duration typed on the command line: finite and 0 or more (no nan, inf or negatives)."""
    try:
        from .spec import validate_seconds

        return validate_seconds("timeout", float(text))
    except (ValueError, InvalidSpecError):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}") from None


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, got {text!r}")
    return int(text)


COMMANDS: tuple[str, ...] = ("completion", "list", "doctor", "run", "adopt", "up", "down", "config")
COMMANDS += ("ps", "status", "logs", "stop", "rm")


class _Skipped:
    """A subcommand's parser when another command was typed: configuring it costs nothing."""

    def add_argument(self, *args: object, **kwargs: object) -> None:
        pass

    def set_defaults(self, **kwargs: object) -> None:
        pass


class _Subcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Builds only the parser of the command being run (`selected`), so a quick command does
    not pay for the other twelve (bench/ps.py); with none selected, all of them."""

    selected: str | None = None

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if self.selected is not None and name != self.selected:
            return _Skipped()
        return super().add_parser(name, **kwargs)


def _command_in(words: list[str]) -> str | None:
    """The command word, past the global options before it; None when there is none to trust."""
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] == "--backend" else 1
    return words[i] if i < len(words) and words[i] in COMMANDS else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that subcommand is configured (see _Subcommands)."""
    parser = argparse.ArgumentParser(
        prog="oblako-backends", description="Run oblako's service containers on any runtime."
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    # The global options go before the command or after it, as with docker; SUPPRESS keeps a
    # subcommand's unset option from overwriting one given before the command.
    choose = argparse.ArgumentParser(add_help=False)
    choose.add_argument(
        "--backend",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help=f"backend to use (default: ${config.BACKEND_VAR} or docker)",
    )
    choose.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress lines (pulls, builds, up)"
    )
    for action in choose._actions:
        parser._add_action(action)
    parser.register("action", "parsers", _Subcommands)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.selected = command  # type: ignore[attr-defined]

    p = sub.add_parser("completion", help='a shell completion script: eval "$(oblako-backends completion bash)"')
    p.add_argument("shell", choices=["bash", "zsh"])
    p.set_defaults(func=cmd_completion)

    p = sub.add_parser("list", help="installed backends, including broken ones")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("doctor", parents=[choose], help="which backend, which endpoint, does it answer")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--reach",
        metavar="IMAGE",
        help="also start a listener and two clients from IMAGE (busybox sh, httpd, wget, timeout) and say "
        "who reaches a fixed published port: this host, the default network, a project network",
    )
    p.set_defaults(func=cmd_doctor)

    running = argparse.ArgumentParser(add_help=False)  # the options `run` and `adopt` both take
    running.add_argument("-p", "--publish", action="append", default=[], metavar="HOST:CONTAINER[/PROTO]")
    running.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    running.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST[:ro]")
    running.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    running.add_argument("-w", "--workdir", metavar="DIR")
    running.add_argument("-u", "--user", metavar="USER")

    p = sub.add_parser(
        "run", parents=[choose, running], help="start a detached container: run [--name NAME] [OPTIONS] IMAGE [CMD...]"
    )
    p.add_argument("--name", help="the container's name (default: oblako-run-<random>)")
    p.add_argument("image")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="command and arguments (all after IMAGE)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "adopt",
        parents=[choose, running],
        help="adopt [OPTIONS] NAME IMAGE [CMD...]: run a container in place of a same-named one no tool "
        "claims (oblako's own from before this layer), if it runs the same image repository; its named volumes stay",
    )
    p.add_argument("name")
    p.add_argument("image")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="command and arguments (all after IMAGE)")
    p.set_defaults(func=cmd_adopt)

    project = argparse.ArgumentParser(add_help=False)  # what `up` and `down` both take
    project.add_argument("file", nargs="?", help="a services file (see examples/demo.toml); or -f FILE")
    project.add_argument("-f", "--file", dest="file_option", metavar="FILE", help="the services file")
    project.add_argument(
        "-p", "--project", metavar="NAME", help="project name (default: $OBLAKO_PROJECT, else the file's directory)"
    )

    p = sub.add_parser(
        "up", parents=[choose, project], help="start the services a TOML file describes, wait until ready"
    )
    p.add_argument("-j", "--jobs", type=_positive, help="at most this many services start at once (default: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", parents=[choose, project], help="stop and remove the services of a project")
    p.add_argument("-v", "--volumes", action="store_true", help="also remove the named volumes this project created")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("config", parents=[project], help="the project, normalised, as YAML (or --json); no runtime")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-environment", action="store_true", help="print environment values (masked by default)")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("ps", parents=[choose], help="containers this layer created")
    p.add_argument("-p", "--project", metavar="NAME", help="only this project's containers")
    p.add_argument("-a", "--all", action="store_true", help="include stopped ones")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ps)

    p = sub.add_parser("status", parents=[choose], help="running, stopped or absent")
    p.add_argument("name")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("logs", parents=[choose], help="a container's log lines, or a project's")
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="a container; with --project/--file: services (default: all)"
    )
    p.add_argument("-p", "--project", metavar="NAME", help="the project's services, each line prefixed `service |`")
    p.add_argument("--file", metavar="FILE", help="the project of this services file")
    p.add_argument("-n", "--tail", type=_non_negative, default=50)
    p.add_argument("-f", "--follow", action="store_true")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("stop", parents=[choose], help="stop and remove a container")
    p.add_argument("name")
    p.add_argument("-t", "--timeout", type=_seconds, default=10.0, help="seconds before a kill")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("rm", parents=[choose], help="remove a container at once")
    p.add_argument("name")
    p.set_defaults(func=cmd_rm)
    return parser


class _Version(argparse.Action):
    """`--version`: read from the installed distribution only when asked (startup stays cheap)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import version

        print(f"oblako-backends {version('oblako-backends')}")
        parser.exit()


def _warn_on_one_line(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    print(f"oblako-backends: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _warn_on_one_line  # a person reads these: one line each, no source excerpt
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is the container's command, never our options.
    after: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, after = words[:cut], words[cut + 1 :]
    args = build_parser(_command_in(words)).parse_args(words)
    if after:
        if args.command not in ("run", "adopt"):
            build_parser().error("only `run` and `adopt` take a command after --")
        args.cmd = [*args.cmd, *after]
    args.backend = getattr(args, "backend", None)
    args.quiet = getattr(args, "quiet", False)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except (ConfigurationError, InvalidSpecError, UnknownBackendError) as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        return 2
    except OblakoBackendError as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`list --json | head -1`): end quietly, as `cat` does. Output
        # still buffered would fail again at exit, so stdout now points at nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command a pipe ended


if __name__ == "__main__":
    sys.exit(main())
