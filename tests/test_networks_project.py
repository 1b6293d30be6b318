"""A Compose project's networks on real engines (Docker, Podman rootful and rootless): each
top-level network made with its labels and options and removed by `down`, an external one used
and kept; services on several networks (an internal one first) reach each other only where they
share one, by each alias; a fixed address; a link's alias; `network_mode: service:X`; volume labels."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import runtimes
from oblako_backends import get_backend
from oblako_backends.backend import Backend
from oblako_backends.project import load
from oblako_backends.project.run import down, remove_volumes, up
from oblako_backends.testing.contract import fetch_argv, local_addresses, run_in, wait_for

pytestmark = pytest.mark.runtime
ENGINE_VARS = ("DOCKER_HOST", "CONTAINER_HOST", "DOCKER_CONTEXT", "COLIMA_HOME", "COLIMA_PROFILE")
# Both end at once on SIGTERM: a shell or httpd as PID 1 ignores it, and down would wait 10 s.
SERVE = 'trap "exit 0" TERM; mkdir -p /w && hostname > /w/index.html && httpd -f -p 8080 -h /w & wait'
FOREVER = 'trap "exit 0" TERM; sleep 600 & wait'

FILE = """\
services:
  api:
    image: {image}
    command: ["sh", "-c", '{serve}']
    volumes: [data:/data]
    networks:
      front: {{aliases: [www], ipv4_address: {address}}}
      back: {{aliases: [db-api]}}
  web:
    image: {image}
    command: ["sh", "-c", '{forever}']
    networks: [front]
  worker:
    image: {image}
    command: ["sh", "-c", '{forever}']
    networks: [back, outside]
    links: ["api:legacy"]
  sidecar:
    image: {image}
    command: ["sh", "-c", '{forever}']
    network_mode: service:api
networks:
  front:
    labels: {{tier: front}}
    ipam: {{config: [{{subnet: {subnet}}}]}}
  back:
    labels: {{tier: back}}
    internal: true
  outside:
    external: true
    name: {external}
volumes:
  data:
    labels: {{keep: "yes"}}
"""


@pytest.fixture(params=["docker", "podman", "rootless-podman"])
def engine_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    for var in ENGINE_VARS:
        monkeypatch.delenv(var, raising=False)
    if request.param == "docker":
        monkeypatch.setenv("DOCKER_HOST", request.getfixturevalue("docker_engine").url)
        backend = get_backend("docker")
    else:
        fixture = "podman_engine" if request.param == "podman" else "rootless_podman"
        monkeypatch.setenv("CONTAINER_HOST", request.getfixturevalue(fixture).url)
        backend = get_backend("podman")
    yield backend
    for info in backend.list():
        if info.project and info.project.startswith("nets"):
            backend.remove(info.name)


def test_a_project_s_networks_are_made_joined_and_removed_as_compose_does(
    engine_backend: Backend, tmp_path: Path
) -> None:
    backend = engine_backend
    api = backend.docker_client().api
    token = uuid.uuid4().hex[:6]
    name, external = f"nets{token}", f"nets-outside-{token}"
    octet = 100 + int(token[:2], 16) % 100
    subnet, address = f"10.{octet}.77.0/24", f"10.{octet}.77.9"
    api.create_network(external, driver="bridge")  # there before the project, as `external` means
    path = tmp_path / "compose.yaml"
    image = runtimes.TEST_IMAGE
    path.write_text(
        FILE.format(image=image, serve=SERVE, forever=FOREVER, address=address, subnet=subnet, external=external)
    )
    project = load(str(path), name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing of this file is dropped on these engines
            up(project, backend)
        front, back = (api.inspect_network(f"{name}_{k}") for k in ("front", "back"))
        assert front["Labels"]["tier"] == "front" and front["Labels"]["oblako.project"] == name
        assert [c["Subnet"] for c in front["IPAM"]["Config"]] == [subnet]
        assert back["Labels"]["tier"] == "back" and back["Internal"] is True  # worker's first network
        assert api.inspect_volume(f"{name}_data")["Labels"]["keep"] == "yes"

        def fetch(client: str, host: str) -> tuple[int, str]:
            return run_in(backend, f"{name}-{client}-1", *fetch_argv(f"http://{host}:8080/"))

        for client, host in (("web", "api"), ("web", "www"), ("worker", "db-api"), ("worker", "legacy")):
            lookup = run_in(backend, f"{name}-{client}-1", "nslookup", host)
            wait_for(lambda c=client, h=host: fetch(c, h)[0] == 0, f"{client} to fetch api as {host} ({lookup})")  # type: ignore[misc]
        assert fetch("web", "db-api")[0] != 0  # that alias is back's, and web is on front only
        assert fetch("web", "legacy")[0] != 0  # the link's alias is on the network worker shares
        assert address in local_addresses(backend, f"{name}-api-1")
        sidecar = run_in(backend, f"{name}-sidecar-1", *fetch_argv("http://127.0.0.1:8080/"))
        assert sidecar[0] == 0  # api's server, on the loopback they share
        assert down(project, backend) == {}
        assert not api.networks(names=[f"{name}_front"]) and not api.networks(names=[f"{name}_back"])
        assert api.networks(names=[external]), "an external network is never removed"
        assert remove_volumes(project, backend).removed == [f"{name}_data"]
    finally:
        down(project, backend)
        api.remove_network(external)
