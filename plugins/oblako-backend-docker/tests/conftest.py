"""The engines every Docker-API backend is tested on: real ones the harness starts.

Each test using `backend` runs once per engine. The backend is chosen the way a user
chooses it (OBLAKO_CONTAINER_BACKEND) and finds its engine the way it would on a user's
machine: DOCKER_HOST for docker, the default socket for docker on a stock engine (as a
distribution starts it), CONTAINER_HOST for podman, Colima's socket under HOME.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import runtimes
from oblako_backends import get_backend
from oblako_backends.backend import Backend


@pytest.fixture(params=["docker", "docker-stock", "podman", "colima"])
def engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> runtimes.Engine:
    """Point the environment at one real engine, as a user of that backend would."""
    name = request.param.removesuffix("-stock")
    for var in (
        "DOCKER_HOST",
        "CONTAINER_HOST",
        "DOCKER_CONTEXT",
        "COLIMA_HOME",
        "COLIMA_PROFILE",
        "OBLAKO_BIND_ADDRESS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OBLAKO_CONTAINER_BACKEND", name)
    if request.param == "docker-stock":
        daemon = request.getfixturevalue("stock_docker_engine")
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path_factory.mktemp("docker-config")))  # no one's context
        return runtimes.Engine(name, daemon.url, "default socket", daemon)
    if name == "docker":
        daemon = request.getfixturevalue("docker_engine")
        monkeypatch.setenv("DOCKER_HOST", daemon.url)
        return runtimes.Engine(name, daemon.url, "DOCKER_HOST", daemon)
    if name == "podman":
        daemon = request.getfixturevalue("podman_engine")
        monkeypatch.setenv("CONTAINER_HOST", daemon.url)
        return runtimes.Engine(name, daemon.url, "CONTAINER_HOST", daemon)
    daemon, home = request.getfixturevalue("docker_engine"), request.getfixturevalue("colima_home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return runtimes.Engine(name, f"unix://{runtimes.colima_socket(home)}", "~/.colima, profile default", daemon)


@pytest.fixture
def backend(engine: runtimes.Engine) -> Iterator[Backend]:
    backend = get_backend()  # by OBLAKO_CONTAINER_BACKEND, as the application does
    assert backend.name == engine.backend
    yield backend
    for container in backend.list():
        backend.remove(container.name)
