"""A project its network cannot hold is refused before anything starts; Podman sizes the
network for the project; `down` removes everything in one run. On a private Docker Engine
(whose networks are /24s: its pool is the harness's, `size=24`) and a private rootful Podman."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import runtimes
from oblako_backends import config, get_backend
from oblako_backends.backend import Backend
from oblako_backends.project import default_network, load
from oblako_backends.project.run import ProjectError, down, up

SERVICE = "[services.s{i}]\nimage = '{image}'\ncommand = ['sh', '-c', 'echo ready; trap \"exit 0\" TERM; sleep 600 & wait']\nhealth = {{ log = 'ready' }}\n"  # noqa: E501


@pytest.fixture(params=["docker", "podman"])
def engine(request: pytest.FixtureRequest) -> Iterator[tuple[Backend, str]]:
    """(backend, engine URL): a private engine of each kind, nothing of ours left on it after."""
    daemon: runtimes.Daemon = request.getfixturevalue(f"{request.param}_engine")
    backend = get_backend(request.param, base_url=daemon.url)
    yield backend, daemon.url
    for container in backend.list():
        backend.remove(container.name)


def project_file(tmp_path: Path, services: int) -> Path:
    path = tmp_path / "services.toml"
    path.write_text("".join(SERVICE.format(i=i, image=runtimes.TEST_IMAGE) for i in range(services)))
    return path


def networks(url: str) -> list[dict[str, Any]]:
    api = docker.APIClient(base_url=url, version="1.41", timeout=60)
    try:
        return list(api.networks())
    finally:
        api.close()


def networks_named(url: str, name: str) -> list[dict[str, Any]]:
    return [n for n in networks(url) if n.get("Name") == name]


def test_a_project_larger_than_the_network_it_uses_is_refused_before_anything_starts(
    engine: tuple[Backend, str], tmp_path: Path
) -> None:
    backend, url = engine
    project = f"small{uuid.uuid4().hex[:8]}"
    name = default_network(project)
    api = docker.APIClient(base_url=url, version="1.41", timeout=60)
    subnet = f"10.254.{uuid.uuid4().int % 250}.0/29"  # 8 addresses: 5 for containers
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    network = api.create_network(name, driver="bridge", ipam=ipam)["Id"]  # there before the project
    try:
        stack = load(project_file(tmp_path, 6), project)
        with pytest.raises(ProjectError) as refused:
            up(stack, backend)
        message = str(refused.value)
        assert f"network {name!r} ({subnet}) has addresses for 5 containers" in message
        assert "has 6 containers; nothing was started" in message and "/28" in message  # and what to do
        assert [c.name for c in backend.list() if c.project == project] == []
        assert [n["Id"] for n in networks_named(url, name)] == [network]  # not ours: kept
        five = load(project_file(tmp_path, 5), project)  # what fits runs on it
        assert all(o.started and not o.error for o in up(five, backend))
        assert down(five, backend) == {}
    finally:
        api.remove_network(network)
        api.close()


def test_docker_refuses_a_project_larger_than_the_networks_its_pool_makes_and_removes_the_one_it_made(
    docker_engine: runtimes.Daemon, tmp_path: Path
) -> None:
    backend = get_backend("docker", base_url=docker_engine.url)
    project = f"big{uuid.uuid4().hex[:8]}"
    stack = load(project_file(tmp_path, 254), project)  # a /24 holds 253
    refusal = r"addresses for 253 containers, and project .* has 254 containers"
    with pytest.raises(ProjectError, match=refusal) as refused:
        up(stack, backend)
    assert "default-address-pools" in str(refused.value) and "/23" in str(refused.value)
    assert [c.name for c in backend.list() if c.project == project] == []
    assert networks_named(docker_engine.url, default_network(project)) == []


def test_podman_makes_the_network_large_enough_for_the_project(podman_engine: runtimes.Daemon) -> None:
    backend = get_backend("podman", base_url=podman_engine.url)
    name = default_network(f"big{uuid.uuid4().hex[:8]}")
    assert backend.create_network(name, containers=254)  # its default, a /24, holds 253
    try:
        room = backend.network_capacity(name)
        assert room is not None and room.addresses >= 254 and room.subnet.endswith("/23"), room
        mine = ipaddress.ip_network(room.subnet)
        for network in networks(podman_engine.url):
            for pool in (network.get("IPAM") or {}).get("Config") or [] if network["Name"] != name else []:
                assert not mine.overlaps(ipaddress.ip_network(pool["Subnet"])), network
    finally:
        backend.remove_network(name)
    assert backend.network_capacity(name) is None


def test_down_removes_every_container_and_the_network_in_one_run(engine: tuple[Backend, str], tmp_path: Path) -> None:
    backend, url = engine
    project = f"down{uuid.uuid4().hex[:8]}"
    stack = load(project_file(tmp_path, config.DEFAULT_JOBS + 2), project)  # more than the bound
    assert all(o.started and not o.error for o in up(stack, backend))
    assert len([c for c in backend.list() if c.project == project]) == config.DEFAULT_JOBS + 2
    assert down(stack, backend) == {}
    assert [c.name for c in backend.list() if c.project == project] == []
    assert networks_named(url, default_network(project)) == []
