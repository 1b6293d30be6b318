"""The engines every Docker-API backend is tested on: real ones the harness starts.

Each test using `backend` runs once per backend. The backend is chosen the way a user
chooses it (OBLAKO_CONTAINER_BACKEND) and finds its engine the way it would on a user's
machine: DOCKER_HOST for docker, CONTAINER_HOST for podman, Colima's socket under HOME.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import runtimes
from oblako_backends import get_backend
from oblako_backends.backend import Backend


@pytest.fixture(params=["docker", "podman", "colima"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> runtimes.Engine:
    """Point the environment at one real engine, as a user of that backend would."""
    name = request.param
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
    if name == "docker":
        url = request.getfixturevalue("docker_engine").url
        monkeypatch.setenv("DOCKER_HOST", url)
        return runtimes.Engine(name, url, "DOCKER_HOST")
    if name == "podman":
        url = request.getfixturevalue("podman_engine").url
        monkeypatch.setenv("CONTAINER_HOST", url)
        return runtimes.Engine(name, url, "CONTAINER_HOST")
    home = request.getfixturevalue("colima_home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return runtimes.Engine(name, f"unix://{runtimes.colima_socket(home)}", "~/.colima, profile default")


@pytest.fixture
def backend(engine: runtimes.Engine) -> Iterator[Backend]:
    backend = get_backend()  # by OBLAKO_CONTAINER_BACKEND, as the application does
    assert backend.name == engine.backend
    yield backend
    for container in backend.list():
        backend.remove(container.name)
