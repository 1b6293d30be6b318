"""The parser (only the typed command's subparser is built) and `main`, which maps errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .. import config
from ..errors import ConfigurationError, InvalidSpecError, OblakoBackendError, UnknownBackendError
from .completion import completion_script
from .containers import cmd_adopt, cmd_exec, cmd_logs, cmd_port, cmd_ps, cmd_rm, cmd_run, cmd_status, cmd_stop, cmd_top
from .diagnose import cmd_doctor, cmd_list
from .display import warn_on_one_line
from .projects import cmd_build, cmd_config, cmd_down, cmd_pull, cmd_restart, cmd_start, cmd_up


def cmd_completion(args: argparse.Namespace) -> int:
    """A completion script for `args.shell`, generated from this parser, so it never drifts."""
    print(completion_script(build_parser(), args.shell))
    return 0


def _non_negative(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """A duration typed on the command line: finite and 0 or more (no nan, inf or negatives)."""
    try:
        from ..spec import validate_seconds

        return validate_seconds("timeout", float(text))
    except (ValueError, InvalidSpecError):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}") from None


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, got {text!r}")
    return int(text)


COMMANDS: tuple[str, ...] = ("completion", "list", "doctor", "run", "adopt", "up", "start", "restart", "pull", "build")
COMMANDS += ("down",)
COMMANDS += ("config",)


COMMANDS += ("ps", "status", "logs", "stop", "rm", "exec", "port", "top")


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
        "run",
        parents=[choose, running],
        help="start a detached container: run [--name NAME] [OPTIONS] IMAGE [CMD...]; "
        "or, as Compose's run, a one-off of a service: run -f FILE [--rm] SERVICE [CMD...]",
    )
    p.add_argument("--name", help="the container's name (default: oblako-run-<random>)")
    p.add_argument(
        "-f", "--file", dest="file_option", metavar="FILE", action="append", help="IMAGE is a service of this file"
    )
    p.add_argument("--project", metavar="NAME", help="with -f: the project name (default: as `up` names it)")
    p.add_argument("--rm", action="store_true", help="with -f: remove the one-off when it ends")
    p.add_argument("image", metavar="IMAGE_OR_SERVICE")
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
    project.add_argument(
        "-f", "--file", dest="file_option", metavar="FILE", action="append", help="a services file; Compose files merge"
    )
    project.add_argument(
        "--profile",
        action="append",
        metavar="NAME",
        help="also the Compose services of this profile (default: $COMPOSE_PROFILES)",
    )
    project.add_argument(
        "--env-file",
        action="append",
        metavar="PATH",
        help="the variables a Compose file reads, instead of the .env beside it (repeatable; later ones win)",
    )
    project.add_argument(
        "-p", "--project", metavar="NAME", help="project name (default: $OBLAKO_PROJECT, else the file's directory)"
    )

    p = sub.add_parser(
        "up", parents=[choose, project], help="start the services a TOML file describes, wait until ready"
    )
    p.add_argument(
        "-j", "--jobs", type=_positive, help="at most this many services start at once (default: $OBLAKO_JOBS, else 8)"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--no-start", action="store_true", help="create the networks, volumes and containers; start none (`start` does)"
    )
    for flags, does in ((("-d", "--detach"), "returns leaving them running"), (("--wait",), "waits until ready")):
        p.add_argument(*flags, action="store_true", help=f"as Compose takes it; up always {does}")
    p.add_argument(
        "services", nargs="*", metavar="SERVICE", help="only these services and what they depend on (default: all)"
    )
    p.set_defaults(func=cmd_up)

    p = sub.add_parser(
        "start", parents=[choose, project], help="start the containers `up --no-start` created, wait until ready"
    )
    p.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: all)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("restart", parents=[choose, project], help="stop a project's services and start them again")
    p.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: all)")
    p.set_defaults(func=cmd_restart)

    p = sub.add_parser("pull", parents=[choose, project], help="pull the images of a project's services (not built)")
    p.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: all)")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("build", parents=[choose, project], help="build the images of a project's services with `build`")
    p.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: all)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("down", parents=[choose, project], help="stop and remove the services of a project")
    p.add_argument("-v", "--volumes", action="store_true", help="also remove the named volumes this project created")
    p.add_argument(
        "--remove-orphans", action="store_true", help="also the project's containers of services no longer in the file"
    )
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("config", parents=[project], help="the project, normalised, as YAML (or --json); no runtime")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show-environment", action="store_true", help="print environment values (masked by default)")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("ps", parents=[choose], help="containers this layer created")
    p.add_argument("-p", "--project", metavar="NAME", help="only this project's containers")
    p.add_argument("--file", metavar="FILE", help="only the containers of this services file's project")
    p.add_argument("-a", "--all", action="store_true", help="include stopped ones")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="json: one object per line, as Compose's (with --project, the table has Compose's columns)",
    )
    p.add_argument("--no-trunc", action="store_true", help="the whole COMMAND")
    p.add_argument("services", nargs="*", metavar="SERVICE", help="with --project/--file: only these services")
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
    p.add_argument(
        "--since", metavar="TIME", help="lines since then: 2013-01-02T13:23:37Z, a Unix time, or relative (42m)"
    )
    p.add_argument("--until", metavar="TIME", help="lines before then (the same forms)")
    p.add_argument("-t", "--timestamps", action="store_true", help="each line after the moment it was written")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("stop", parents=[choose], help="stop and remove a container")
    p.add_argument("name")
    p.add_argument("-t", "--timeout", type=_seconds, default=10.0, help="seconds before a kill")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("rm", parents=[choose], help="remove a container at once")
    p.add_argument("name")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser(
        "exec", parents=[choose], help="run a command in a running container (or a project's service); its exit code"
    )
    p.add_argument("-p", "--project", metavar="NAME", help="NAME is a service of this project")
    p.add_argument("--file", metavar="FILE", help="NAME is a service of this services file's project")
    p.add_argument("--index", type=_positive, default=1, help="with --project/--file: which replica (default 1)")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-w", "--workdir", metavar="DIR")
    p.add_argument("-u", "--user", metavar="USER")
    p.add_argument("-T", dest="no_tty", action="store_true", help="no terminal (always so: accepted for Compose)")
    p.add_argument("--timeout", type=_seconds, help="give up after this many seconds (default: none)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="command and arguments (all after NAME)")
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("port", parents=[choose], help="where a container's port is published on this machine")
    p.add_argument("-p", "--project", metavar="NAME", help="NAME is a service of this project")
    p.add_argument("--file", metavar="FILE", help="NAME is a service of this services file's project")
    p.add_argument("--index", type=_positive, default=1, help="with --project/--file: which replica (default 1)")
    p.add_argument("--protocol", choices=["tcp", "udp", "sctp"], default="tcp")
    p.add_argument("name", metavar="NAME")
    p.add_argument("private_port", type=_positive, metavar="PRIVATE_PORT")
    p.set_defaults(func=cmd_port)

    p = sub.add_parser("top", parents=[choose], help="the processes running in a container, or in a project's services")
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="a container; with --project/--file: services (default: all)"
    )
    p.add_argument("-p", "--project", metavar="NAME", help="the project's running containers, in Compose's table")
    p.add_argument("--file", metavar="FILE", help="the project of this services file")
    p.set_defaults(func=cmd_top)
    return parser


class _Version(argparse.Action):
    """`--version`: read from the installed distribution only when asked (startup stays cheap)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import version

        print(f"oblako-backends {version('oblako-backends')}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = warn_on_one_line  # a person reads these: one line each, no source excerpt
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is the container's command, never our options.
    after: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, after = words[:cut], words[cut + 1 :]
    args = build_parser(_command_in(words)).parse_args(words)
    if after:
        if args.command not in ("run", "adopt", "exec"):
            build_parser().error("only `run`, `adopt` and `exec` take a command after --")
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
