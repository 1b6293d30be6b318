"""The hooks, each one `docker` command. The CLI honours DOCKER_HOST and contexts itself."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from oblako_backends import (
    ContainerInfo,
    ContainerSpec,
    Health,
    ImageNotFoundError,
    LogStream,
    NameInUseError,
    OblakoBackendError,
    PortInUseError,
    Probe,
    Progress,
    PublishedPort,
    State,
    config,
    hookimpl,
)
from oblako_backends.commands import follow, run
from oblako_backends.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from oblako_backends.models import seconds_since

HINT = "install the docker CLI and point DOCKER_HOST (or `docker context use`) at a running engine"
_PORT = re.compile(r"(?:Bind for \S*:|listen tcp\S* \S*:)(\d+)")


class ExamplePlugin:
    """Containers through the `docker` CLI."""

    capabilities = frozenset(
        {"pull", "build", "follow_logs", "named_volumes", "bind_mounts", "user", "remove_volumes", "health"}
    )

    def __init__(self, docker: str = "docker"):
        self.docker = docker

    def _cli(self, *args: str, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        def failed(argv: Sequence[str], stderr: str) -> OblakoBackendError:
            return OblakoBackendError(f"docker {args[0]} failed: {stderr.strip()}")

        # The core's one way to start a CLI: a deadline, and errors the core knows.
        return run(
            [self.docker, *args],
            timeout or config.call_timeout(),
            runtime="example",
            hint=HINT,
            fail=failed if check else None,
        )

    @hookimpl
    def oblako_ensure_image(self, image: str, progress: Progress | None) -> None:
        if self._cli("image", "inspect", image, check=False).returncode == 0:
            return
        pulled = self._cli("pull", image, check=False)
        if pulled.returncode != 0:
            raise ImageNotFoundError(f"image {image!r} could not be pulled: {pulled.stderr.strip()}")
        for line in pulled.stdout.splitlines():
            if progress:
                progress(line)

    @hookimpl
    def oblako_build_image(self, image: str, context_dir: str, progress: Progress | None, dockerfile: str) -> None:
        built = self._cli("build", f"--tag={image}", f"--file={os.path.join(context_dir, dockerfile)}", context_dir)
        for line in (built.stdout + built.stderr).splitlines():
            if progress:
                progress(line)

    @hookimpl
    def oblako_run(self, spec: ContainerSpec) -> None:
        # Each value rides in its option's token (--opt=value), so none can be read as an option.
        argv = ["run", "--detach", f"--name={spec.name}"]
        for wanted in spec.ports:
            for address in config.bind_addresses():
                argv.append(f"--publish={address}:{wanted.host_port or ''}:{wanted.container_port}/{wanted.protocol}")
        for key, value in spec.environment.items():
            argv.append(f"--env={key}={value}")
        for volume in spec.volumes:
            argv.append(f"--volume={volume.source}:{volume.target}:{'ro' if volume.read_only else 'rw'}")
        for key, value in spec.labels.items():
            argv.append(f"--label={key}={value}")
        for host, address in spec.extra_hosts.items():
            argv.append(f"--add-host={host}:{address}")
        if spec.working_dir:
            argv.append(f"--workdir={spec.working_dir}")
        if spec.user:
            argv.append(f"--user={spec.user}")
        if spec.health:  # the CLI runs a health command through the image's shell: quote the argv for it
            check = spec.health
            argv.append(f"--health-cmd={shlex.join(check.command)}")
            argv += [f"--health-interval={check.interval}s", f"--health-timeout={check.timeout}s"]
            argv += [f"--health-retries={check.retries}", f"--health-start-period={check.start_period}s"]
        entrypoint = spec.entrypoint or ()
        if entrypoint:  # the CLI takes one executable; the rest of the entrypoint leads the arguments
            argv.append(f"--entrypoint={entrypoint[0]}")
        argv += ["--", spec.image, *entrypoint[1:], *(spec.command or ())]
        done = self._cli(*argv, check=False)
        if done.returncode == 0:
            return
        error = done.stderr.strip()
        if "is already in use by container" in error:  # a concurrent run won the name: not ours to remove
            raise NameInUseError(f"can't start {spec.name!r}: a container of that name was created first")
        self._cli("rm", "--force", spec.name, check=False)  # a container that never started
        if "already allocated" in error or "address already in use" in error:
            found = _PORT.search(error)
            port = int(found.group(1)) if found else None
            raise PortInUseError(f"can't start {spec.name!r}: host port {port} is already in use", port)
        if "pull access denied" in error or "not found" in error:
            raise ImageNotFoundError(f"image {spec.image!r} is not available: {error}")
        raise OblakoBackendError(f"docker run {spec.name!r} failed: {error}")

    @hookimpl
    def oblako_inspect(self, name: str) -> ContainerInfo | None:
        done = self._cli("container", "inspect", name, check=False)
        if done.returncode != 0:
            if "no such" in done.stderr.lower():
                return None
            raise OblakoBackendError(f"docker inspect {name!r} failed: {done.stderr.strip()}")
        found = json.loads(done.stdout)[0]
        return _info(found) if found.get("Name") == f"/{name}" else None  # an ID prefix is not a name

    @hookimpl
    def oblako_logs(self, name: str, tail: int) -> str:
        if tail == 0:
            return ""
        done = self._cli("logs", "--tail", str(tail), name, check=False)
        return "" if done.returncode != 0 else done.stdout + done.stderr

    @hookimpl
    def oblako_follow_logs(self, name: str, tail: int) -> LogStream:
        program = shutil.which(self.docker) or self.docker
        # The core's one helper for a streaming CLI: its own process group, ended on close.
        return follow([program, "logs", "--follow", "--tail", str(tail), name], with_stderr=True)

    @hookimpl
    def oblako_stop(self, name: str, timeout: float) -> None:
        self._cli("stop", "--time", str(int(timeout)), name, timeout=timeout + config.call_timeout(), check=False)
        self.oblako_remove(name)

    @hookimpl
    def oblako_remove(self, name: str) -> None:
        self._cli("rm", "--force", name, check=False)

    @hookimpl
    def oblako_create_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.oblako_volume_labels(name) is not None:
            return False
        self._cli("volume", "create", *(f"--label={k}={v}" for k, v in labels.items()), "--", name)
        return True

    @hookimpl
    def oblako_volume_labels(self, name: str) -> Mapping[str, str] | None:
        done = self._cli("volume", "inspect", "--", name, check=False)
        if done.returncode != 0:
            if "no such volume" in done.stderr.lower():
                return None
            raise OblakoBackendError(f"docker volume inspect {name!r} failed: {done.stderr.strip()}")
        return dict(json.loads(done.stdout)[0].get("Labels") or {})

    @hookimpl
    def oblako_remove_volume(self, name: str) -> None:
        self._cli("volume", "rm", "--", name, check=False)

    @hookimpl
    def oblako_list(self) -> list[ContainerInfo]:
        ids = self._cli("ps", "--all", "--quiet", "--filter", f"label={MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
        if not ids.stdout.split():
            return []
        return [_info(c) for c in json.loads(self._cli("container", "inspect", *ids.stdout.split()).stdout)]

    @hookimpl
    def oblako_probe(self, timeout: float) -> Probe:
        try:
            done = self._cli("version", "--format", "{{json .Server}}", timeout=timeout)
            server = json.loads(done.stdout)
        except (OblakoBackendError, ValueError) as exc:
            return Probe("example", False, error=str(exc), hint=HINT)
        return Probe(
            backend="example",
            reachable=True,
            endpoint="docker CLI",
            endpoint_source="DOCKER_HOST or the current docker context",
            engine="Docker Engine (through the docker CLI)",
            version=str(server.get("Version", "")),
            capabilities=self.capabilities,
        )


def _info(data: dict[str, Any]) -> ContainerInfo:
    ports = [
        PublishedPort(int(key.split("/")[0]), key.partition("/")[2] or "tcp", b["HostIp"], int(b["HostPort"]))
        for key, bindings in (data["NetworkSettings"]["Ports"] or {}).items()
        for b in bindings or []
    ]
    return ContainerInfo(
        name=data["Name"].lstrip("/"),
        state=State.RUNNING if data["State"]["Running"] else State.STOPPED,
        image=data["Config"]["Image"],
        labels=data["Config"]["Labels"] or {},
        ports=tuple(ports),
        backend="example",
        # Created but not started yet, by a run still within its deadline: a concurrent start waits.
        starting=data["State"].get("Status") == "created"
        and seconds_since(data.get("Created", "")) < config.call_timeout(),
        health=_HEALTH.get((data["State"].get("Health") or {}).get("Status", "")) if data["State"]["Running"] else None,
    )


_HEALTH = {"starting": Health.STARTING, "healthy": Health.HEALTHY, "unhealthy": Health.UNHEALTHY}
