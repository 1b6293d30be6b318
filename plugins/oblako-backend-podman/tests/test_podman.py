"""Finding Podman's socket in Podman's order, and refusing an engine that is not Podman."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import runtimes
from oblako_backend_podman.endpoints import candidates
from oblako_backends import STOPPED, RuntimeUnavailableError, Service, get_backend

NO_TOOLS = {"PATH": "/nonexistent"}  # no podman CLI to ask


def test_container_host_is_the_only_candidate_and_beats_docker_host() -> None:
    env = {"CONTAINER_HOST": "unix:///c.sock", "DOCKER_HOST": "unix:///d.sock"}
    assert [(e.url, e.source) for e in candidates(env=env)] == [("unix:///c.sock", "CONTAINER_HOST")]
    assert [e.url for e in candidates(env={"DOCKER_HOST": "unix:///d.sock"})] == ["unix:///d.sock"]
    assert [e.url for e in candidates("unix:///b.sock", env=env)] == ["unix:///b.sock"]


def test_without_the_cli_rootless_sockets_come_before_the_rootful_one() -> None:
    found = candidates(env={**NO_TOOLS, "XDG_RUNTIME_DIR": "/run/user/1000"}, uid=1000, platform="linux")
    assert [e.url for e in found] == ["unix:///run/user/1000/podman/podman.sock", "unix:///run/podman/podman.sock"]
    found = candidates(env={**NO_TOOLS, "XDG_RUNTIME_DIR": "/tmp/xdg"}, uid=1000, platform="linux")
    assert [e.url for e in found] == [
        "unix:///tmp/xdg/podman/podman.sock",
        "unix:///run/user/1000/podman/podman.sock",
        "unix:///run/podman/podman.sock",
    ]


def test_the_socket_podman_info_reports_comes_first(podman_cli: str, tmp_path: Path) -> None:
    """The real `podman info` (the harness installs it), kept away from the machine's storage."""
    (tmp_path / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/g"\nrunroot = "{tmp_path}/r"\n'
    )
    env = {**runtimes.podman_env(tmp_path), "CONTAINERS_STORAGE_CONF": str(tmp_path / "storage.conf")}
    env.pop("CONTAINER_HOST", None)
    env.pop("DOCKER_HOST", None)
    first = candidates(env=env, timeout=30)[0]
    expected = "/run/podman/podman.sock" if os.geteuid() == 0 else f"/run/user/{os.geteuid()}/podman/podman.sock"
    assert (first.url, first.source) == (f"unix://{expected}", "`podman info` remote socket")


def test_a_docker_engine_behind_the_socket_is_refused(docker_engine: runtimes.Daemon) -> None:
    """What a podman-docker shim pointing at Docker looks like to the podman backend."""
    backend = get_backend("podman", base_url=docker_engine.url)
    probe = backend.probe()
    assert not probe.reachable
    assert "Docker Engine" in probe.error and "not Podman" in probe.error
    with pytest.raises(RuntimeUnavailableError, match="not Podman"):
        backend.list()
    assert get_backend("docker", base_url=docker_engine.url).probe().reachable


def test_nothing_listening_lists_every_socket_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(RuntimeUnavailableError) as info:
        get_backend("podman").list()
    message = str(info.value)
    assert f"{tmp_path}/podman/podman.sock" in message and "/run/podman/podman.sock" in message
    assert "podman system service" in message and "CONTAINER_HOST" in message


def test_containers_reach_the_host_as_host_containers_internal(podman_engine: runtimes.Daemon) -> None:
    """Podman's own name for the host works without any extra_hosts entry."""
    backend = get_backend("podman", base_url=podman_engine.url)
    token = uuid.uuid4().hex[:6]
    port = runtimes.free_port()
    server = Service(f"server-{token}", runtimes.TEST_IMAGE, backend=backend, ports={"8080/tcp": port})
    client = f"t-client-{token}"
    try:
        server.start()
        server.wait_ready(timeout=30)
        backend.run(
            name=client, image=runtimes.TEST_IMAGE, command=f"wget -q -O - http://host.containers.internal:{port}/"
        )
        deadline = time.monotonic() + 30
        while backend.status(client) != STOPPED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.logs(client) == "hello from oblako-test\n"
    finally:
        backend.remove(client)
        server.stop()


def test_docker_host_wins_with_a_warning_when_it_is_not_podman(
    docker_engine: runtimes.Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's rule: DOCKER_HOST always wins for the Docker-API runtimes. An engine there that
    is not Podman is used, with a warning, not refused."""
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
    backend = get_backend("podman")
    with pytest.warns(UserWarning, match="DOCKER_HOST wins"):
        probe = backend.probe()
    assert probe.reachable and probe.engine == "Docker Engine" and probe.endpoint_source == "DOCKER_HOST"
    name = f"t-dh-{uuid.uuid4().hex[:6]}"
    backend.run(name=name, image=runtimes.TEST_IMAGE, command=["sleep", "30"])
    try:
        assert backend.status(name) == "running"
    finally:
        backend.remove(name)
