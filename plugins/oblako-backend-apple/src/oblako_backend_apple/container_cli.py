"""Apple's `container` CLI: where it is, argv building, and reading what it prints.

Pure functions where possible, so they are tested over the CLI's documented outputs.
Follows the command reference of apple/container 0.5 (docs/command-reference.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oblako_backends import ContainerInfo, ContainerSpec, InvalidSpecError, PublishedPort, State

HOMEBREW = ("/opt/homebrew/bin/container", "/usr/local/bin/container")
INSTALL_HINT = (
    "install Apple's container CLI (macOS 26 or later): `brew install container`, then `container system start`"
)
START_HINT = "start its service: `container system start`"
DEFAULT_GATEWAY = "192.168.64.1"  # vmnet's default gateway: how containers reach this Mac
# `container run` takes no stop signal and its snapshot keeps none, so the container carries
# it in a label that `stop` reads back for `container stop --signal`.
STOP_SIGNAL_LABEL = "oblako.apple.stop-signal"
# An Apple CLI error: `Error: <kind>: "<message>"` (ContainerizationError), its last line on stderr.
_CLI_ERROR = re.compile(r'Error: [A-Za-z]+: ".*"')
# Apple's rule for a network's id (NetworkConfiguration.validate): lower case, at most 63 characters.
NETWORK_ID_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?")
_VERSION = re.compile(r"version\s+(\d+)\.(\d+)(?:\.(\d+))?")


def locate(explicit: str | None = None) -> str | None:
    """The `container` binary: an explicit path, then PATH, then Homebrew's places."""
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else shutil.which(explicit)
    found = shutil.which("container")
    if found:
        return found
    return next((p for p in HOMEBREW if os.access(p, os.X_OK)), None)


def version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) from `container --version`, e.g. "container CLI version 0.5.0 (build: release)"."""
    match = _VERSION.search(text)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)) if match else None


def qualify(image: str) -> str:
    """A fully qualified reference: Docker Hub short names get docker.io/library/."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def with_gateway(value: str, gateway: str) -> str:
    """host.docker.internal in an env value becomes the vmnet gateway (there is no --add-host)."""
    return value.replace("host.docker.internal", gateway)


def option(name: str, value: str) -> str:
    """`--NAME=VALUE`: the value glued to its option's long name in one token, so that no value
    (a label `x=--rm`, a network `-n`) is ever read as an option of its own."""
    return f"--{name}={value}"


def run_argv(
    spec: ContainerSpec,
    host_ports: Mapping[str, int],
    bind_addresses: tuple[str, ...],
    volumes_dir: Path,
    env_file: Path | None,
    command: str = "run",
) -> list[str]:
    """`container run --detach ...` for `spec`, or with `command` "create", `container create
    ...` (run's options but --detach, docs/command-reference.md); without the program name.

    Each option is built by its name (`option`), all before the image; `--` then ends the
    options, so the image and the container's arguments after it are never read as the
    CLI's. The environment goes in `env_file` (see `env_file_text`), never on the command
    line, where any user could read it in the process list.
    """
    if command not in ("run", "create"):
        raise ValueError(f"run_argv builds `run` or `create`, not {command!r}")
    options = ["--detach"] if command == "run" else []
    options.append(option("name", spec.name))
    for port in spec.ports:
        for address in (port.host_ip,) if port.host_ip else bind_addresses:
            options.append(option("publish", f"{address}:{host_ports[port.key]}:{port.container_port}/{port.protocol}"))
    if env_file is not None:
        options.append(option("env-file", str(env_file)))
    for volume in spec.volumes:
        source = str(volumes_dir / volume.source) if volume.is_named else volume.source
        options.append(option("volume", f"{source}:{volume.target}{':ro' if volume.read_only else ''}"))
    # Every network joined, in order, one `--network` each (capabilities network_by_address
    # and networks): 0.5 reads them as a list, the first attached first (ContainerClient's
    # getAttachmentConfigurations), and forwards published ports to that first one (docs/how-to.md).
    for attachment in spec.networks:
        options.append(option("network", attachment.name))
    if spec.working_dir:
        options.append(option("workdir", spec.working_dir))
    if spec.user:
        options.append(option("user", spec.user))
    options += option_flags(spec)
    for key, value in spec.labels.items():
        options.append(option("label", f"{key}={value}"))
    if spec.stop_signal:
        options.append(option("label", f"{STOP_SIGNAL_LABEL}={spec.stop_signal}"))
    entrypoint = spec.entrypoint or ()
    if entrypoint:  # the CLI takes one executable; the rest of the entrypoint leads the arguments
        options.append(option("entrypoint", entrypoint[0]))
    return [command, *options, "--", qualify(spec.image), *entrypoint[1:], *(spec.command or ())]


def option_flags(spec: ContainerSpec) -> list[str]:
    """The Compose options `container run` documents: --tmpfs (a path only: the CLI takes no
    mount options, see `tmpfs_options_dropped`), --dns, --dns-search, --tty, --interactive and
    --platform."""
    argv = [option("tmpfs", target) for target in spec.tmpfs]
    argv += [option("dns", address) for address in spec.dns]
    argv += [option("dns-search", domain) for domain in spec.dns_search]
    if spec.tty:
        argv.append("--tty")
    if spec.stdin_open:
        argv.append("--interactive")
    if spec.platform:
        argv.append(option("platform", spec.platform))
    return argv


def network_create_argv(name: str, labels: Mapping[str, str]) -> list[str]:
    """`container network create [--label <label> ...] <name>`: each label glued to its
    option, `--` before the name."""
    return ["network", "create", *(option("label", f"{k}={v}") for k, v in labels.items()), "--", name]


def network_delete_argv(name: str) -> list[str]:
    """`container network delete <name>`, `--` before the name."""
    return ["network", "delete", "--", name]


def networks(text: str) -> dict[str, Mapping[str, Any]]:
    """`container network ls --format json` (PrintableNetwork: id, state, config with its
    labels and subnet, status with address and gateway while running) by network id."""
    data = json.loads(text or "[]")
    found = data if isinstance(data, list) else []
    return {str(n.get("id") or (n.get("config") or {}).get("id")): n for n in found if isinstance(n, Mapping)}


def network_labels(network: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((network.get("config") or {}).get("labels") or {}).items()}


def attached(snapshots_: list[dict[str, Any]], network: str) -> tuple[str, ...]:
    """The containers (of `container ls --all --format json`) attached to `network` now."""
    return tuple(
        str((s.get("configuration") or {}).get("id", ""))
        for s in snapshots_
        if any(n.get("network") == network for n in networks_of(s))
    )


def network_subnet(network: Mapping[str, Any]) -> str | None:
    """The network's IPv4 subnet: its status's address while it runs, else the subnet it was made with."""
    found = (network.get("status") or {}).get("address") or (network.get("config") or {}).get("subnet")
    return str(found) if found else None


def tmpfs_options_dropped(spec: ContainerSpec) -> list[str]:
    """The tmpfs targets whose options (size=, mode=, ...) `container run --tmpfs PATH` cannot carry."""
    return [target for target, options in spec.tmpfs.items() if options]


def exec_argv(
    name: str, command: tuple[str, ...], env_file: Path | None, working_dir: str | None, user: str | None
) -> list[str]:
    """`container exec ...` (without the program name): no stdin, no terminal, as `compose
    exec -T`. Values are glued to their options; everything after the container's id is the
    command's own (the CLI passes it through unread). The environment rides in `env_file`."""
    argv = ["exec"]
    if env_file is not None:
        argv.append(option("env-file", str(env_file)))
    if working_dir:
        argv.append(option("workdir", working_dir))
    if user:
        argv.append(option("user", user))
    return [*argv, "--", name, *command]


def cli_error(stderr: str) -> str | None:
    """The CLI's own error (`Error: notFound: "..."`) when stderr ends with one, else None."""
    lines = stderr.strip().splitlines()
    return lines[-1] if lines and _CLI_ERROR.fullmatch(lines[-1].strip()) else None


def env_file_text(environment: Mapping[str, str], gateway: str) -> str:
    """The `--env-file` contents: KEY=VALUE lines (the CLI skips blank lines and `#` comments).

    That format has no quoting, so a value with a line break, or a key starting with `#`,
    cannot be carried and is refused (naming the key, never the value).
    """
    lines = []
    for key, value in environment.items():
        value = with_gateway(value, gateway)
        if "\n" in value or "\r" in value:
            raise InvalidSpecError(
                f"environment[{key!r}]", value, "Apple's env file cannot carry a line break in a value", secret=True
            )
        if key.startswith("#"):
            raise InvalidSpecError(
                "environment", key, "Apple's env file would read a key starting with '#' as a comment"
            )
        lines.append(f"{key}={value}\n")
    return "".join(lines)


def state_of(snapshot: Mapping[str, Any]) -> str:
    """The runtime status: a string up to 0.12 (ContainerSnapshot.status); from 1.0 `ls` and
    `inspect` print a ManagedContainer, whose status is {state, networks, startedDate}."""
    status = snapshot.get("status")
    return str(status.get("state", "")) if isinstance(status, Mapping) else str(status or "")


def networks_of(snapshot: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The network attachments: top-level up to 0.12, inside `status` from 1.0."""
    status = snapshot.get("status")
    found = status.get("networks") if isinstance(status, Mapping) else snapshot.get("networks")
    return [n for n in found or [] if isinstance(n, Mapping)]


def info(snapshot: Mapping[str, Any]) -> ContainerInfo:
    """One entry of `container ls --all --format json` as ContainerInfo. There is no exit code
    to read: neither ContainerSnapshot (0.5) nor ManagedContainer (1.x) keeps one, so
    `exit_code` stays None (the container's end cannot be told from outside)."""
    config = snapshot.get("configuration") or {}
    ports = tuple(
        PublishedPort(
            int(p["containerPort"]) + i,
            str(p.get("proto", "tcp")),
            str(p.get("hostAddress", "")),
            int(p["hostPort"]) + i,
        )
        for p in config.get("publishedPorts") or []
        for i in range(int(p.get("count", 1) or 1))
    )
    return ContainerInfo(
        name=str(config.get("id", "")),
        state=State.RUNNING if state_of(snapshot) == "running" else State.STOPPED,
        image=str((config.get("image") or {}).get("reference", "")),
        labels=dict(config.get("labels") or {}),
        ports=ports,
        backend="apple",
    )


def snapshots(text: str) -> list[dict[str, Any]]:
    data = json.loads(text or "[]")
    return data if isinstance(data, list) else []


def gateway_of(snapshots_: list[dict[str, Any]]) -> str | None:
    """The gateway a running container's network reports: the address it reaches this Mac at
    (`gateway` up to 0.12, `ipv4Gateway` from 1.0)."""
    for snapshot in snapshots_:
        for network in networks_of(snapshot):
            gateway = network.get("gateway") or network.get("ipv4Gateway")
            if gateway:
                return str(gateway).split("/")[0]
    return None
