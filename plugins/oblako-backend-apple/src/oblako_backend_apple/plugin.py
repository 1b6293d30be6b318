"""Apple's `container` CLI as a backend: one argv-list command per hook, each with a deadline.

Differences from Docker, handled on purpose: named volumes are host directories under a
state directory (the CLI has no named volumes that survive `delete`); there is no
`--add-host`, so `host.docker.internal` in env values becomes the vmnet gateway; `list` has
no label filter, so ownership is filtered here; there is no Docker API.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from oblako_backends import (
    ContainerInfo,
    ContainerSpec,
    ImageNotFoundError,
    LogStream,
    NameInUseError,
    OblakoBackendError,
    PortInUseError,
    Probe,
    Progress,
    RuntimeUnavailableError,
    State,
    config as core_config,
    hookimpl,
)
from oblako_backends.commands import follow, free_port, run
from oblako_backends.models import NetworkCapacity

from . import container_cli


@contextmanager
def _private_file(text: str) -> Iterator[Path | None]:
    """`text` in a file only this user can read, removed afterwards (None when there is no text)."""
    if not text:
        yield None
        return
    descriptor, name = tempfile.mkstemp(prefix="oblako-env-", suffix=".env")  # created 0600
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
        yield Path(name)
    finally:
        os.unlink(name)


log = logging.getLogger(__name__)
# `exec` with no timeout asked: a day stands for "no limit", so no process is left without a deadline.
EXEC_NO_LIMIT = 24 * 3600.0


class ApplePlugin:
    """Containers on Apple's container runtime (macOS 26+), through its CLI."""

    runtime = "apple"
    # Compose's options only where `container run` documents a flag for every field the
    # capability names (docs/command-reference.md): no --hostname, --cap-add before 0.12 nor
    # --security-opt, no --pids-limit, no --restart, --sysctl, --device or --expose.
    capabilities = frozenset(
        {
            "pull",
            "build",
            "follow_logs",
            "named_volumes",
            "bind_mounts",
            "user",
            "remove_volumes",
            "exec",
            "tmpfs",
            "dns",
            "tty",
            "platform",
            "stop_signal",
            "stop_grace_period",
            "create",
            # Networks made by `network create` (macOS 26+), joined by address: names do not
            # resolve there (docs/networking.md: no bare names on a custom network), so no
            # service_names and no aliases.
            "network_by_address",
            # Several per container: `--network` repeated (0.5's docs/how-to.md: "If your
            # container attaches to multiple networks, the ports you publish forward to the IP
            # address of the interface attached to the first network").
            "networks",
        }
    )

    def __init__(self, cli_path: str | None = None, volumes_dir: str | None = None, gateway: str | None = None):
        self._explicit = cli_path or os.environ.get("OBLAKO_APPLE_CLI") or None
        base = volumes_dir or os.environ.get("OBLAKO_APPLE_VOLUMES") or str(Path.home() / ".oblako" / "apple-volumes")
        self.volumes_dir = Path(base).expanduser()
        self._gateway = gateway or os.environ.get("OBLAKO_APPLE_HOST_GATEWAY") or None
        self.timeout = core_config.call_timeout()

    @staticmethod
    def unavailable_here() -> str | None:
        """Why Apple's runtime cannot run on this machine (`list` shows it), or None. It needs
        macOS 26 or later on Apple silicon; OBLAKO_APPLE_CLI (a CLI named explicitly) says otherwise."""
        if os.environ.get("OBLAKO_APPLE_CLI"):
            return None
        system, machine = platform.system(), platform.machine()
        release = platform.mac_ver()[0] if system == "Darwin" else ""
        major = int(release.split(".")[0]) if release.split(".")[0].isdigit() else 0
        if system == "Darwin" and machine == "arm64" and major >= 26:
            return None
        this = f"macOS {release}" if system == "Darwin" else system
        return f"needs macOS 26 or later on Apple silicon (this machine: {this} {machine})"

    def _program(self) -> str:
        found = container_cli.locate(self._explicit)
        if found is None:
            tried = self._explicit or ", ".join(["PATH", *container_cli.HOMEBREW])
            raise RuntimeUnavailableError(
                self.runtime, [(tried, "no `container` executable")], container_cli.INSTALL_HINT
            )
        return found

    def _run(self, *args: str, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One `container` command within `timeout` s (None: OBLAKO_TIMEOUT)."""
        program = self._program()
        return run(
            [program, *args],  # environment values go in an --env-file, never argv
            timeout or self.timeout,
            runtime=self.runtime,
            hint=container_cli.START_HINT,
            fail=(lambda argv, stderr: self._error(args, stderr)) if check else None,
        )

    def _error(self, args: tuple[str, ...], stderr: str) -> OblakoBackendError:
        text = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        lowered = stderr.lower()
        if "apiserver" in lowered and "not running" in lowered or "xpc connection" in lowered:
            return RuntimeUnavailableError(self.runtime, [("container system", text)], container_cli.START_HINT)
        return OblakoBackendError(f"container {' '.join(args[:1])} failed: {text}")

    # -- images ----------------------------------------------------------------------------

    @hookimpl
    def oblako_ensure_image(self, image: str, progress: Progress | None) -> None:
        reference = container_cli.qualify(image)
        if self._run("image", "inspect", "--", reference, check=False).returncode == 0:
            return
        if progress:
            progress(f"pulling {reference}")
        pulled = self._run("image", "pull", "--progress", "none", "--", reference, check=False)
        if pulled.returncode != 0:
            raise ImageNotFoundError(f"image {reference!r} could not be pulled: {pulled.stderr.strip()}")

    @hookimpl
    def oblako_build_image(self, image: str, context_dir: str, progress: Progress | None, dockerfile: str) -> None:
        path = os.path.join(context_dir, dockerfile)
        built = self._run(
            "build",
            container_cli.option("tag", container_cli.qualify(image)),
            container_cli.option("file", path),
            "--",
            context_dir,
        )
        for line in (built.stdout + built.stderr).splitlines():
            if progress:
                progress(line)

    # -- containers ------------------------------------------------------------------------

    def gateway(self) -> str:
        """How containers reach this Mac: configured, else what a container's network reports, else vmnet's default."""
        if self._gateway is None:
            listed = container_cli.snapshots(self._run("ls", "--all", "--format", "json").stdout)
            self._gateway = container_cli.gateway_of(listed) or container_cli.DEFAULT_GATEWAY
        return self._gateway

    @hookimpl
    def oblako_run(self, spec: ContainerSpec) -> None:
        self._made(spec, "run")

    @hookimpl
    def oblako_create(self, spec: ContainerSpec) -> None:
        self._made(spec, "create")

    @hookimpl
    def oblako_start(self, name: str) -> None:
        done = self._run("start", "--", name, check=False)
        if done.returncode == 0:
            return
        error = done.stderr.strip()
        if "not found" in error.lower():
            raise OblakoBackendError(f"no container {name!r} on {self.runtime} to start")
        if "in use" in error.lower() or "already allocated" in error.lower():
            raise PortInUseError(f"can't start {name!r}: a host port it publishes is already in use ({error})", None)
        raise OblakoBackendError(f"container start {name!r} failed: {error}")

    def _made(self, spec: ContainerSpec, command: str) -> None:
        """`container run --detach` (command "run") or `container create` (command "create")."""
        unsupported = {host: ip for host, ip in spec.extra_hosts.items()}
        if unsupported:
            warnings.warn(
                f"Apple's container has no --add-host: {sorted(unsupported)} will not resolve; use the vmnet gateway "
                f"({self.gateway()}) or OBLAKO_APPLE_HOST_GATEWAY",
                UserWarning,
                stacklevel=2,
            )
        host_ports = {p.key: p.host_port or free_port() for p in spec.ports}  # the CLI needs a host port
        for volume in spec.volumes:
            if volume.is_named:
                (self.volumes_dir / volume.source).mkdir(parents=True, exist_ok=True)
        dropped = container_cli.tmpfs_options_dropped(spec)
        if dropped:
            warnings.warn(
                f"Apple's container mounts a tmpfs by path only (`--tmpfs PATH`): the options given for "
                f"{', '.join(dropped)} (size, mode, ...) are not applied",
                UserWarning,
                stacklevel=2,
            )
        env_text = container_cli.env_file_text(spec.environment, self._gateway_for(spec.environment))
        with _private_file(env_text) as env_file:
            argv = container_cli.run_argv(
                spec, host_ports, core_config.bind_addresses(), self.volumes_dir, env_file, command
            )
            done = self._run(*argv, check=False)
        if done.returncode == 0:
            return
        error = done.stderr.strip()
        lowered = error.lower()
        if "already exists" in lowered:  # another start won the name: its container is not ours to delete
            raise NameInUseError(f"can't run {spec.name!r}: a container of that name was created first")
        self._run("delete", "--force", "--", spec.name, check=False)  # nothing half-made is left behind
        if "in use" in lowered or "already allocated" in lowered:
            taken = [p for p in host_ports.values() if str(p) in error] or list(host_ports.values())
            port = taken[0] if taken else None
            raise PortInUseError(
                f"can't run {spec.name!r}: host port {port} is already in use; find the holder with "
                f"`lsof -nP -iTCP:{port} -sTCP:LISTEN` (or `container ls`), stop it, and retry",
                port,
            )
        if "not found" in lowered and ("image" in lowered or "manifest" in lowered) or "pull" in lowered:
            raise ImageNotFoundError(f"image {container_cli.qualify(spec.image)!r} is not available: {error}")
        raise OblakoBackendError(f"container {command} {spec.name!r} failed: {error}")

    def _gateway_for(self, environment: Mapping[str, str]) -> str:
        """The gateway when an env value names host.docker.internal (asking costs a listing), else ""."""
        return self.gateway() if any("host.docker.internal" in v for v in environment.values()) else ""

    @hookimpl
    def oblako_exec(
        self,
        name: str,
        command: tuple[str, ...],
        environment: Mapping[str, str],
        working_dir: str | None,
        user: str | None,
        output: Callable[[bytes], None],
        timeout: float | None,
    ) -> int:
        """`container exec`, its exit status passed through. The environment goes in an
        --env-file, as for `run`. The CLI's output is read whole, so it reaches `output` when
        the command ends (stdout, then stderr)."""
        if not self._running(name):
            raise OblakoBackendError(f"no running container {name!r} on {self.runtime}; start it first")
        env_text = container_cli.env_file_text(environment, self._gateway_for(environment))
        with _private_file(env_text) as env_file:
            argv = container_cli.exec_argv(name, command, env_file, working_dir, user)
            done = self._run(*argv, timeout=EXEC_NO_LIMIT if timeout is None else timeout, check=False)
        said = container_cli.cli_error(done.stderr) if done.returncode != 0 else None
        if said and ("not found" in said or not self._running(name)):  # the CLI's failure, not the command's
            raise OblakoBackendError(f"can't run a command in {name!r}: {said}")
        for text in (done.stdout, done.stderr):
            if text:
                output(text.encode())
        return done.returncode

    def _running(self, name: str) -> bool:
        info = self.oblako_inspect(name)
        return info is not None and info.state == State.RUNNING

    def _snapshots(self) -> list[dict[str, Any]]:
        return container_cli.snapshots(self._run("ls", "--all", "--format", "json").stdout)

    @hookimpl
    def oblako_inspect(self, name: str) -> ContainerInfo | None:
        found = [container_cli.info(s) for s in self._snapshots() if (s.get("configuration") or {}).get("id") == name]
        return found[0] if found else None

    # -- named volumes: directories under volumes_dir, their labels in .labels/<name>.json ---

    def _labels_file(self, name: str) -> Path:
        return self.volumes_dir / ".labels" / f"{name}.json"

    @hookimpl
    def oblako_create_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        directory = self.volumes_dir / name
        if directory.exists():
            return False
        directory.mkdir(parents=True)
        self._labels_file(name).parent.mkdir(parents=True, exist_ok=True)
        self._labels_file(name).write_text(json.dumps(dict(labels)))
        return True

    @hookimpl
    def oblako_volume_labels(self, name: str) -> Mapping[str, str] | None:
        if not (self.volumes_dir / name).is_dir():
            return None
        try:
            found = json.loads(self._labels_file(name).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    @hookimpl
    def oblako_remove_volume(self, name: str) -> None:
        shutil.rmtree(self.volumes_dir / name, ignore_errors=True)
        self._labels_file(name).unlink(missing_ok=True)

    # -- networks: `container network create/ls/delete` (macOS 26+), labels kept by the runtime -

    def _networks(self) -> dict[str, Any]:
        return container_cli.networks(self._run("network", "ls", "--format", "json").stdout)

    @hookimpl
    def oblako_create_network(self, name: str, labels: Mapping[str, str], containers: int) -> bool:
        """`network create`; its size is the runtime's (`containers` is checked by `up` against
        `oblako_network_capacity`)."""
        if not container_cli.NETWORK_ID_RE.fullmatch(name):
            raise OblakoBackendError(
                f"can't create network {name!r}: Apple's container takes a network name of lower-case letters, "
                "digits, '.', '_' and '-', at most 63, starting and ending with a letter or digit"
            )
        if name in self._networks():
            return False
        done = self._run(*container_cli.network_create_argv(name, labels), check=False)
        if done.returncode == 0:
            return True
        if "exists" in done.stderr.lower() and name in self._networks():  # another `up` made it first
            return False
        raise self._error(("network create",), done.stderr)

    @hookimpl
    def oblako_network_labels(self, name: str) -> Mapping[str, str] | None:
        found = self._networks().get(name)
        return None if found is None else container_cli.network_labels(found)

    @hookimpl
    def oblako_network_capacity(self, name: str) -> NetworkCapacity | None:
        """From `network ls` (its subnet) and `ls --all` (who is attached): the subnet's
        addresses less its own, its broadcast and its gateway."""
        found = self._networks().get(name)
        subnet = None if found is None else container_cli.network_subnet(found)
        if subnet is None:
            return None
        network = ipaddress.ip_network(subnet, strict=False)
        return NetworkCapacity(
            str(network), max(0, network.num_addresses - 3), container_cli.attached(self._snapshots(), name)
        )

    @hookimpl
    def oblako_remove_network(self, name: str) -> None:
        """`network delete`, only of a network of exactly that name (the CLI's delete also
        takes a partial name)."""
        if name not in self._networks():
            return
        done = self._run(*container_cli.network_delete_argv(name), check=False)
        if done.returncode != 0 and name in self._networks():
            raise self._error(("network delete",), done.stderr)

    @hookimpl
    def oblako_list(self) -> list[ContainerInfo]:
        """`list` has no label filter: one listing, filtered here."""
        infos = [container_cli.info(s) for s in self._snapshots()]
        return [i for i in infos if i.owned]

    @hookimpl
    def oblako_logs(self, name: str, tail: int) -> str:
        if tail == 0:
            return ""
        done = self._run("logs", "-n", str(tail), "--", name, check=False)
        return done.stdout if done.returncode == 0 else ""

    @hookimpl
    def oblako_follow_logs(self, name: str, tail: int) -> LogStream:
        if self.oblako_inspect(name) is None:
            raise OblakoBackendError(f"no container named {name!r} to follow")
        deadline = self.timeout / 2  # a runtime that stops answering is noticed within OBLAKO_TIMEOUT

        def answers() -> None:
            status = self._run("system", "status", timeout=deadline, check=False)
            if status.returncode != 0:
                said = (status.stdout + status.stderr).strip().splitlines() or ["not running"]
                raise RuntimeUnavailableError(self.runtime, [("container system", said[-1])], container_cli.START_HINT)

        argv = [self._program(), "logs", "--follow", "-n", str(tail), "--", name]
        return follow(argv, check=answers, period=min(2.0, self.timeout / 4))

    @hookimpl
    def oblako_stop(self, name: str, timeout: float) -> None:
        """`container stop` with the stop signal the container's label keeps (else SIGTERM)."""
        info = self.oblako_inspect(name)
        signal = (info.labels if info else {}).get(container_cli.STOP_SIGNAL_LABEL)
        argv = ["stop", "--time", str(max(0, int(timeout))), *([f"--signal={signal}"] if signal else []), "--", name]
        self._run(*argv, timeout=timeout + self.timeout, check=False)
        self.oblako_remove(name)

    @hookimpl
    def oblako_remove(self, name: str) -> None:
        done = self._run("delete", "--force", "--", name, check=False)
        if done.returncode != 0 and "not found" not in done.stderr.lower():
            raise self._error(("delete",), done.stderr)

    # -- the runtime -----------------------------------------------------------------------

    @hookimpl
    def oblako_probe(self, timeout: float) -> Probe:
        unavailable = None if self._explicit else self.unavailable_here()
        if unavailable:
            hint = "use the docker, podman or colima backend on this machine"
            return Probe(self.runtime, False, error=f"Apple's container runtime {unavailable}", hint=hint)
        try:
            program = self._program()
            status = self._run("system", "status", timeout=timeout, check=False)
            said = self._run("--version", timeout=timeout, check=False).stdout
        except RuntimeUnavailableError as exc:
            return Probe(self.runtime, False, error="; ".join(f"{w}: {y}" for w, y in exc.tried), hint=exc.hint)
        if status.returncode != 0:
            why = (status.stdout + status.stderr).strip().splitlines()
            return Probe(
                self.runtime,
                False,
                endpoint=program,
                error=why[-1] if why else "not running",
                hint=container_cli.START_HINT,
            )
        found = container_cli.version(said)
        return Probe(
            backend=self.runtime,
            reachable=True,
            endpoint=program,
            endpoint_source="OBLAKO_APPLE_CLI" if self._explicit else "PATH or Homebrew",
            engine="Apple container",
            version=".".join(map(str, found)) if found else said.strip(),
            capabilities=self.capabilities,
            details={
                "ports listen on": ", ".join(core_config.bind_addresses()),
                "limits": "arm64 images run natively (amd64 through Rosetta only when enabled); no Docker socket, so "
                "docker_client() is None and oblako's compute paths (Lambda, Glue, SageMaker) need Docker or Podman; "
                "macOS 26 or later",
                "volumes": str(self.volumes_dir),
            },
        )

    @hookimpl
    def oblako_docker_client(self) -> Any:
        return None
