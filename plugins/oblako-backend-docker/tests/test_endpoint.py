"""Endpoint resolution in the Docker CLI's order, against a fake HOME with real context files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from oblako_backend_docker.connection import engine_from_ping as _engine_from_ping
from oblako_backend_docker.convert import Engine
from oblako_backend_docker.endpoints import DEFAULT_SOCKET, resolve
from oblako_backend_docker.wording import command_missing, image_missing, init_missing, port_in_use
from oblako_backends import ConfigurationError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text("{}")  # as the Docker CLI leaves it
    return tmp_path


def add_context(home: Path, name: str, host: str, current: bool = False) -> None:
    """Write a context the way `docker context create` stores it."""
    meta = home / ".docker" / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}})
    )
    if current:
        (home / ".docker" / "config.json").write_text(json.dumps({"currentContext": name}))


def test_default_socket_when_nothing_is_configured(home: Path) -> None:
    found = resolve(env={})
    assert (found.url, found.source) == (DEFAULT_SOCKET, "default socket")


def test_current_context_from_config(home: Path) -> None:
    add_context(home, "colima", "unix:///home/u/.colima/default/docker.sock", current=True)
    found = resolve(env={})
    assert found.url == "unix:///home/u/.colima/default/docker.sock"
    assert "current Docker context" in found.source and "colima" in found.source


def test_docker_context_beats_the_current_context(home: Path) -> None:
    add_context(home, "colima", "unix:///c.sock", current=True)
    add_context(home, "remote", "tcp://10.0.0.5:2375")
    found = resolve(env={"DOCKER_CONTEXT": "remote"})
    assert found.url == "tcp://10.0.0.5:2375" and "DOCKER_CONTEXT" in found.source


def test_docker_host_beats_contexts_and_warns_that_it_shadows_one(home: Path) -> None:
    add_context(home, "colima", "unix:///c.sock", current=True)
    with pytest.warns(UserWarning, match="overrides the Docker context 'colima'"):
        found = resolve(env={"DOCKER_HOST": "unix:///d.sock"})
    assert (found.url, found.source) == ("unix:///d.sock", "DOCKER_HOST")


def test_docker_host_without_a_context_does_not_warn(home: Path, recwarn: pytest.WarningsRecorder) -> None:
    assert resolve(env={"DOCKER_HOST": "tcp://127.0.0.1:2375"}).url == "tcp://127.0.0.1:2375"
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_explicit_base_url_beats_everything(home: Path) -> None:
    add_context(home, "colima", "unix:///c.sock", current=True)
    found = resolve("unix:///explicit.sock", env={"DOCKER_HOST": "unix:///d.sock"})
    assert (found.url, found.source) == ("unix:///explicit.sock", "base_url option")


def test_a_missing_context_is_named_with_the_known_ones(home: Path) -> None:
    add_context(home, "colima", "unix:///c.sock")
    with pytest.raises(ConfigurationError, match=r"'nope', which does not exist \(known: .*colima"):
        resolve(env={"DOCKER_CONTEXT": "nope"})


@pytest.mark.parametrize("bad", ["/var/run/docker.sock", "docker.sock", "unix://", "http//x"])
def test_a_docker_host_that_is_not_an_endpoint_is_refused(home: Path, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="DOCKER_HOST"):
        resolve(env={"DOCKER_HOST": bad})


@pytest.mark.parametrize(
    ("message", "port"),
    [
        # Docker Engine 20.10+
        (
            "driver failed programming external connectivity on endpoint x (abc): "
            "Bind for 127.0.0.1:8001 failed: port is already allocated",
            8001,
        ),
        (
            "driver failed programming external connectivity on endpoint x: Error starting userland proxy: "
            "listen tcp4 127.0.0.1:18080: bind: address already in use",
            18080,
        ),
        # Podman 4.x
        ("rootlessport listen tcp 0.0.0.0:8080: bind: address already in use", 8080),
        ("cannot listen on the TCP port: listen tcp4 :9000: bind: address already in use", 9000),
        ("something went wrong: port already in use", None),
    ],
)
def test_every_wording_of_a_taken_port_is_recognised(message: str, port: int | None) -> None:
    assert port_in_use(message) == (True, port)


def test_other_errors_are_not_taken_for_port_conflicts() -> None:
    assert port_in_use('Conflict. The container name "/x" is already in use') == (False, None)


@pytest.mark.parametrize(
    "message",
    [
        "No such image: localhost/nope:1",
        "manifest for localhost:5000/x:1 not found: manifest unknown: manifest unknown",
        "pull access denied for nope, repository does not exist or may require 'docker login'",
        "localhost/nope:1: image not known",
    ],
)
def test_missing_image_wordings(message: str) -> None:
    assert image_missing(message)


@pytest.mark.parametrize(
    ("message", "named"),
    [
        # Docker Engine 20.10
        (
            'OCI runtime create failed: container_linux.go:380: starting container process caused: exec: "nope": '
            "executable file not found in $PATH: unknown",
            "nope",
        ),
        # Podman 4.x with runc, and with crun (which does not name it)
        (
            'runc: runc create failed: unable to start container process: exec: "nope": executable file not found '
            "in $PATH: OCI runtime attempted to invoke a command that was not found",
            "nope",
        ),
        (
            "crun: executable file not found in $PATH: No such file or directory: OCI runtime attempted to invoke "
            "a command that was not found",
            "",
        ),
    ],
)
def test_a_command_missing_from_the_image_is_recognised(message: str, named: str) -> None:
    assert command_missing(message) == named
    assert command_missing("No such container: x") is None


def test_an_engine_without_an_init_binary_is_recognised() -> None:
    said = (  # Podman 4.3 on Debian with tini but no catatonit, as this machine first had it
        "container create: container-init binary not found on the host: stat /usr/libexec/podman/catatonit: "
        "no such file or directory"
    )
    assert init_missing(said)
    assert not init_missing("No such container: x")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("tcp://10.20.30.40:2375", "10.20.30.40"),
        ("ssh://ci@build-host.example:2222", "build-host.example"),
        ("https://[2001:db8::7]:2376", "2001:db8::7"),
        ("tcp://127.0.0.1:2375", ""),  # this machine
        ("tcp://localhost:2375", ""),
        ("unix:///var/run/docker.sock", ""),
    ],
)
def test_the_host_of_a_remote_engine_is_read_from_its_url(url: str, host: str) -> None:
    from oblako_backend_docker.endpoints import remote_host

    assert remote_host(url, lambda address: address.startswith("127.")) == host


def test_a_container_knows_it_is_one_by_its_runtimes_marker(tmp_path: Path) -> None:
    from oblako_backend_docker.endpoints import inside_a_container

    assert not inside_a_container(str(tmp_path))
    (tmp_path / ".dockerenv").touch()
    assert inside_a_container(str(tmp_path))


@pytest.mark.parametrize("bad", ["has space", "under_score.example", "-leading", "ünïcode.example", "a" * 64 + ".x"])
def test_a_host_override_that_is_no_host_is_refused_naming_the_variable(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oblako_backends import ContainerInfo, PublishedPort, State

    monkeypatch.setenv("OBLAKO_HOST_OVERRIDE", bad)
    info = ContainerInfo("x", State.RUNNING, ports=(PublishedPort(80, "tcp", "0.0.0.0", 8080),))
    with pytest.raises(ConfigurationError, match="OBLAKO_HOST_OVERRIDE=.* is neither a host name nor an IP address"):
        info.endpoint(80)


@pytest.mark.parametrize("good", ["docker-host", "192.168.1.20", "engine.example.test", "::1"])
def test_a_host_override_wins_over_every_binding(good: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from oblako_backends import ContainerInfo, PublishedPort, State

    monkeypatch.setenv("OBLAKO_HOST_OVERRIDE", good)
    info = ContainerInfo(
        "x", State.RUNNING, ports=(PublishedPort(80, "tcp", "127.0.0.1", 8080),), engine_host="10.0.0.9"
    )
    assert info.endpoint(80) == (good, 8080)
    monkeypatch.delenv("OBLAKO_HOST_OVERRIDE")
    assert info.endpoint(80) == ("10.0.0.9", 8080)  # without it: the engine's host


DOCKER_PING = {"Api-Version": "1.41", "Ostype": "linux", "Server": "Docker/20.10.24+dfsg1 (linux)"}
PODMAN_PING = {"Api-Version": "1.41", "Libpod-Api-Version": "4.3.1", "Server": "Libpod/4.3.1 (linux)"}


@pytest.mark.parametrize(
    ("status", "headers", "named"),
    [
        (200, DOCKER_PING, Engine("Docker Engine", "20.10.24+dfsg1", "1.41")),
        (200, PODMAN_PING, Engine("Podman Engine", "4.3.1", "1.41")),
        (200, {"Server": "Docker/1.12.6 (linux)"}, None),  # too old to say its API version: ask /version
        (200, {"Content-Type": "text/plain"}, None),  # something that answers OK, not an engine
        (404, DOCKER_PING, None),
    ],
)
def test_an_engine_is_named_by_its_pings_headers_only_when_they_say_it_all(
    status: int, headers: dict[str, str], named: Engine | None
) -> None:
    answered = SimpleNamespace(status_code=status, headers=headers)  # what docker-py's _get returns, as read
    asked: list[str] = []
    client = SimpleNamespace(
        _get=lambda url, timeout: asked.append(url) or answered, _url=lambda path, versioned_api: path
    )
    assert _engine_from_ping(client, 1.0) == named
    assert asked == ["/_ping"]  # the Engine API's ping: /ping is not one, and answers 404
