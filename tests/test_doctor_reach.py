"""`doctor --reach` says who reaches a fixed published port; each of its answers is checked
here with a fetch of the engine's own CLI (docker or podman `run ... wget`), on every kind of
engine users run: a private Docker Engine (no iptables), a stock one (Docker's iptables rules)
and rootful Podman. Rootless Podman: tests/test_rootless_podman.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import runtimes
from oblako_backends import Service, get_backend

IMAGE = runtimes.TEST_IMAGE
pytestmark = pytest.mark.runtime


@dataclass(frozen=True)
class Engine:
    backend: str
    url: str
    cli: list[str]  # the engine's own CLI, pointed at it
    default_network_reaches: bool  # what the README's table says

    def host_gateway(self, network: str | None) -> str:
        """What a user of this engine's CLI writes for the host: Docker's `host-gateway`; Podman 4
        knows no such word, so its users write the gateway of the container's network."""
        if self.backend == "docker":
            return "host-gateway"
        found = subprocess.run(
            [*self.cli, "network", "inspect", network or "podman"], capture_output=True, text=True, timeout=60
        )
        assert found.returncode == 0, found.stderr
        return str(json.loads(found.stdout)[0]["subnets"][0]["gateway"])


@pytest.fixture(params=["docker", "stock docker", "podman"])
def engine(request: pytest.FixtureRequest, podman_cli: str) -> Engine:
    if request.param == "podman":
        daemon = request.getfixturevalue("podman_engine")
        return Engine("podman", daemon.url, [podman_cli, "--remote", "--url", daemon.url], False)
    daemon = request.getfixturevalue("docker_engine" if request.param == "docker" else "stock_docker_engine")
    docker = shutil.which("docker")
    assert docker, "the docker CLI comes with the engine the harness installs"
    return Engine("docker", daemon.url, [docker, "--host", daemon.url], True)


def doctor(engine: Engine) -> dict[str, dict[str, object]]:
    env = {**os.environ, "DOCKER_HOST": engine.url, "OBLAKO_CONTAINER_BACKEND": engine.backend}
    done = subprocess.run(
        [sys.executable, "-m", "oblako_backends", "doctor", "--json", "--reach", IMAGE],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return {r["vantage"]: r for r in json.loads(done.stdout)["reach"]}


@pytest.fixture
def listener(engine: Engine) -> Iterator[tuple[Service, str, int]]:
    """A project service publishing a fixed port, as `up` starts it, on its project network."""
    backend = get_backend(engine.backend, base_url=engine.url)
    project = f"reach-{uuid.uuid4().hex[:6]}"
    network = f"{project}_default"
    port = runtimes.free_port()
    backend.create_network(network, project)
    service = Service(
        "listener",
        IMAGE,
        backend=backend,
        container_name=f"{project}-listener",
        project=project,
        network=network,
        ports={"8080": port},
        command=["sh", "-c", "echo here > /tmp/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /tmp & wait"],
    )
    try:
        with service:
            yield service, network, port
    finally:
        backend.remove_network(network, project)


def fetched_from_container(engine: Engine, network: str | None, port: int) -> bool:
    on = ["--network", network] if network else []
    done = subprocess.run(
        [*engine.cli, "run", "--rm", *on, "--add-host", f"host.docker.internal:{engine.host_gateway(network)}", IMAGE]
        + ["sh", "-c", f"timeout 10 wget -q -O - http://host.docker.internal:{port}/"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode == 0 and "here" in done.stdout


def test_doctor_says_who_reaches_a_fixed_port_as_the_engines_own_fetches_find(
    engine: Engine, listener: tuple[Service, str, int]
) -> None:
    said = doctor(engine)
    service, network, port = listener
    host, published = service.endpoint(8080) or ("?", 0)
    with urllib.request.urlopen(f"http://{host}:{published}/", timeout=10) as reply:
        assert b"here" in reply.read()
    fetched = {
        "this host": True,
        "the default network": fetched_from_container(engine, None, port),
        "the project network": fetched_from_container(engine, network, port),
    }
    assert {vantage: r["reached"] for vantage, r in said.items()} == fetched
    assert fetched["the project network"], "a project's services reach each other's published ports (the demo)"
    assert fetched["the default network"] == engine.default_network_reaches
    assert said["this host"]["via"] == "loopback"
    port_checked = str(said["this host"]["address"]).rsplit(":", 1)[1]
    for vantage in ("the default network", "the project network"):
        assert said[vantage]["address"] == f"host.docker.internal:{port_checked}", "the name `up`'s services use"
        assert said[vantage]["reached"] or said[vantage]["error"], "a NO says why"


def test_doctor_leaves_nothing_of_its_check_behind(engine: Engine) -> None:
    doctor(engine)
    backend = get_backend(engine.backend, base_url=engine.url)
    assert not [c.name for c in backend.list() if (c.project or "").startswith("oblako-doctor-")]
    networks = subprocess.run(
        [*engine.cli, "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True, timeout=60
    )
    assert networks.returncode == 0, networks.stderr
    assert "oblako-doctor-" not in networks.stdout
