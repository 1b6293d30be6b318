"""Rootless Podman, as most Podman users run it: everything here runs as an unprivileged user
(runtimes.ROOTLESS_USER) with this checkout installed in a venv of its own, the system's
Python, OBLAKO_CONTAINER_BACKEND=podman and neither DOCKER_HOST nor CONTAINER_HOST: the socket
is found by discovery (`podman info`), as on a user's machine."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import runtimes

IMAGE = runtimes.TEST_IMAGE
CHECKOUT = runtimes.ROOT
CGROUPS_V1 = not Path("/sys/fs/cgroup/cgroup.controllers").exists()  # this project's machines: v1
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making the rootless user needs root")


class AsUser:
    """Runs commands as the rootless user, in its login environment."""

    def __init__(self, daemon: runtimes.Daemon) -> None:
        self.user = pwd.getpwnam(runtimes.ROOTLESS_USER)
        self.runtime_dir = daemon.directory / "xdg"
        self.venv = self.runtime_dir / "venv"

    def env(self, **extra: str) -> dict[str, str]:
        env = runtimes.rootless_env(self.user, self.runtime_dir)
        for name in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_INDEX_URL"):
            if name in os.environ:
                env[name] = os.environ[name]
        return {**env, "OBLAKO_CONTAINER_BACKEND": "podman", **extra}

    def run(
        self, argv: list[str], cwd: Path | None = None, timeout: float = 300, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=cwd or self.user.pw_dir, env=self.env(**extra), user=self.user.pw_uid, group=self.user.pw_gid,
            extra_groups=[], capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def cli(self, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.venv / "bin" / "oblako-backends"), *args], cwd=cwd, **extra)


@pytest.fixture(scope="module")
def as_user(rootless_podman: runtimes.Daemon) -> AsUser:
    """The user, with the core and the docker and podman plugins of this checkout installed
    from wheels (built here, as root, where the user may read them) into a venv of the
    system's Python."""
    user = AsUser(rootless_podman)
    wheels = rootless_podman.directory / "wheels"
    wheels.mkdir(exist_ok=True)
    plugins = [str(CHECKOUT / "plugins" / name) for name in ("oblako-backend-docker", "oblako-backend-podman")]
    argv = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(CHECKOUT), *plugins]
    subprocess.run(argv, check=True, timeout=600, capture_output=True)
    for path in [wheels, *wheels.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    python = shutil.which("python3", path="/usr/bin:/bin") or "python3"
    made = user.run([python, "-m", "venv", str(user.venv)])
    assert made.returncode == 0, made.stderr
    pip = [str(user.venv / "bin" / "pip"), "install", "-q", *map(str, wheels.iterdir()), "pytest>=7", "hypothesis>=6"]
    installed = user.run(pip, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return user


def test_discovery_finds_the_users_socket_and_doctor_says_what_rootless_changes(
    as_user: AsUser, rootless_podman: runtimes.Daemon
) -> None:
    done = as_user.cli("doctor", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["endpoint"] == rootless_podman.url
    assert report["endpoint_source"] == "`podman info` remote socket"
    listening = report["details"]["ports listen on"]
    assert listening.startswith("127.0.0.1 only (rootless Podman")


def test_the_contract_suite_passes_as_the_user(as_user: AsUser) -> None:
    argv = [str(as_user.venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs"]
    argv += ["oblako_backends.testing.contract", "--oblako-backend", "podman", "--oblako-test-image", IMAGE]
    if CGROUPS_V1:  # Podman ignores limits there, so the plugin refuses them: the test below
        argv += ["-k", "not test_memory_cpu_and_shared_memory_limits_reach_the_container "
                 "and not test_process_limits_reach_the_container"]  # fmt: skip
    done = as_user.run(argv, timeout=900)
    assert done.returncode == 0, done.stdout[-5000:]
    assert " passed" in done.stdout and " failed" not in done.stdout


@pytest.mark.skipif(not CGROUPS_V1, reason="rootless Podman applies limits on cgroups v2 (the contract checks them)")
def test_limits_rootless_podman_would_ignore_on_cgroups_v1_are_refused_before_anything_starts(as_user: AsUser) -> None:
    project = as_user.runtime_dir / "limits"
    project.mkdir()
    (project / "compose.yaml").write_text(
        f"services:\n  db:\n    image: {IMAGE}\n    mem_limit: 64m\n    ulimits: {{nofile: 512}}\n"
        "    command: ['sleep', '600']\n"
    )
    os.chown(project, as_user.user.pw_uid, as_user.user.pw_gid)
    up = as_user.cli("up", cwd=project)
    assert up.returncode == 1
    assert "rootless Podman on a cgroups v1 machine ignores resource limits (mem_limit, ulimits)" in up.stderr
    assert "limits-" not in as_user.cli("ps", "--all").stdout  # nothing left running without its limits


# Each server ends at once on SIGTERM (httpd as PID 1 ignores it, and down would wait 10 s).
COMPOSE = f"""
services:
  db:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
  web:
    image: {IMAGE}
    command: ["sh", "-c", "wget -qO- http://db:8080/ || exit 1; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    depends_on: [db]
    ports: ["8080"]
"""


def test_a_compose_project_runs_as_the_user_and_its_services_reach_each_other_by_name(as_user: AsUser) -> None:
    project = as_user.runtime_dir / "shop"
    project.mkdir()
    (project / "compose.yaml").write_text(COMPOSE)
    os.chown(project, as_user.user.pw_uid, as_user.user.pw_gid)
    up = as_user.cli("up", cwd=project)
    try:
        assert up.returncode == 0, up.stderr
        logs = as_user.cli("logs", "--project", "shop", "web", cwd=project)
        assert "hello from oblako-test" in logs.stdout, logs.stderr
    finally:
        down = as_user.cli("down", cwd=project)
    assert down.returncode == 0, down.stderr
    assert "shop-" not in as_user.cli("ps", "--all").stdout


# The address Podman wrote for host.containers.internal, fetched by number, and told apart:
# refused or unreachable (wget's 1) from a crash (here, busybox's own `wget -T` segfaults).
FETCH_HOST = (
    "address=$(awk '$2 == \"host.containers.internal\" {{print $1; exit}}' /etc/hosts); "
    'test -n "$address" || {{ echo no-host-entry; exit 0; }}; '
    "timeout 10 wget -qO- http://$address:{port}/ 2>/dev/null; status=$?; "
    'if [ $status = 1 ]; then echo unreachable; elif [ $status != 0 ]; then echo "wget exit $status"; fi'  # 1: refused
)


@pytest.mark.parametrize("bind, answer", [("", "unreachable"), ("0.0.0.0", "hello from oblako-test")])
def test_containers_reach_a_published_port_through_the_host_only_beyond_loopback(
    as_user: AsUser, bind: str, answer: str
) -> None:
    """What doctor says: loopback ports do not answer at host.containers.internal (this
    machine's own address); OBLAKO_BIND_ADDRESS=0.0.0.0 opens them to containers. The fetches
    run from the default network and from a project's, and `doctor --reach` says the same."""
    port = runtimes.free_port()
    extra = {"OBLAKO_BIND_ADDRESS": bind} if bind else {}
    server, network = f"rootless-server-{port}", f"rootless-{port}_default"
    started = as_user.cli(
        "run", "--name", server, "-p", f"{port}:8080", IMAGE, "httpd", "-f", "-p", "8080", "-h", "/www", **extra
    )
    assert started.returncode == 0, started.stderr
    assert as_user.run(["podman", "network", "create", network]).returncode == 0
    try:
        fetched = {
            where: as_user.run(["podman", "run", "--rm", *on, IMAGE, "sh", "-c", FETCH_HOST.format(port=port)])
            for where, on in [("the default network", []), ("the project network", ["--network", network])]
        }
    finally:
        as_user.cli("rm", server)
        as_user.run(["podman", "network", "rm", network])
    for where, done in fetched.items():
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == answer, where
    doctor = as_user.cli("doctor", "--json", "--reach", IMAGE, **extra)
    assert doctor.returncode == 0, doctor.stderr
    said = {r["vantage"]: r for r in json.loads(doctor.stdout)["reach"]}
    assert said["this host"]["reached"]
    for where in fetched:
        assert said[where]["reached"] == (answer != "unreachable"), said[where]
        assert str(said[where]["address"]).startswith("host.containers.internal:"), "rootless has no host-gateway"
