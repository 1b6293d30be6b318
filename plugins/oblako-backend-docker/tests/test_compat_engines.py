"""compat on real engines (docker, podman, colima): the compute paths' `publish()`, and
oblako's containers from before this layer, made the way oblako made them, adopted."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import pytest
import runtimes
from oblako_backends import ImageNotFoundError, NotOwnedError, OblakoBackendError, PortInUseError, Service, compat
from oblako_backends.backend import Backend
from oblako_backends.cli import main as cli
from oblako_backends.labels import OWNER_LABELS
from oblako_backends.testing.contract import wait_for

IMAGE = runtimes.TEST_IMAGE
Names = Callable[[str], str]
FOREVER = "trap 'exit 0' TERM; sleep 600 & wait"
KEEPER = f"mkdir -p /data; cat /data/kept 2>/dev/null || echo no-data; echo kept-data > /data/kept; {FOREVER}"


@pytest.fixture
def made_by_old_oblako(backend: Backend, unique_name: Names) -> Iterator[Callable[..., str]]:
    """`make(name, image, labels)`: a container as oblako made them before this layer: docker-py
    straight on the engine, no ownership labels, data in a named volume."""
    client = backend.docker_client()
    made: list[str] = []
    volume = unique_name("data")

    def make(name: str, image: str = IMAGE, labels: dict[str, str] | None = None) -> str:
        client.containers.run(
            image, ["sh", "-c", KEEPER], name=name, detach=True, labels=labels or {},
            volumes={volume: {"bind": "/data", "mode": "rw"}},
        )  # fmt: skip
        made.append(name)
        return volume

    yield make
    for name in made:
        with contextlib.suppress(Exception):  # adopted and removed by the test already
            client.containers.get(name).remove(force=True)
    with contextlib.suppress(Exception):  # never made
        client.volumes.get(volume).remove(force=True)


def test_publish_binds_compute_containers_where_the_plugin_binds_its_own(backend: Backend, unique_name: Names) -> None:
    client = compat.docker_client()
    port = runtimes.free_port()
    name = unique_name("compute")
    wanted = compat.publish({"8080/tcp": port, "9090/tcp": None}, client)
    assert wanted is not None
    expected = backend.plugin.bind_addresses(port)
    assert [a for a, *_ in wanted["8080/tcp"]] == list(expected) == list(compat.bind_addresses(client))
    assert wanted["9090/tcp"] == [("127.0.0.1",)]  # a random port stays on loopback
    container = client.containers.run(IMAGE, name=name, detach=True, ports=wanted)
    try:
        from oblako_backends.testing.contract import wait_for

        wait_for(lambda: _serves(port), "the compute container to serve")
        assert runtimes.http_get("127.0.0.1", port) == (200, "hello from oblako-test\n")
        bound = container.client.api.inspect_container(name)["HostConfig"]["PortBindings"]["8080/tcp"]
        assert sorted(b["HostIp"] for b in bound) == sorted(expected)
    finally:
        container.remove(force=True)


def test_compat_stop_adopts_oblakos_old_container_and_a_foreign_one_is_left_alone(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str]
) -> None:
    old, foreign = unique_name("old"), unique_name("compose")
    made_by_old_oblako(old, labels={"maintainer": "the image's own label"})
    made_by_old_oblako(foreign, labels={"com.docker.compose.project": "shop"})
    wrapped = compat.wrap(backend)
    assert wrapped.status(old) == compat.RUNNING
    wrapped.stop(old)
    assert wrapped.status(old) == compat.ABSENT
    with pytest.raises(NotOwnedError):
        wrapped.stop(foreign)
    assert wrapped.status(foreign) == compat.RUNNING


def test_no_tool_s_container_is_adopted_by_stop_or_by_a_service(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str]
) -> None:
    """One real container per namespace in labels.OWNER_LABELS (kind's, a devcontainer's,
    Testcontainers', ...): compat's stop refuses each, and so does an adopting Service."""
    names = []
    for number, namespace in enumerate(OWNER_LABELS):
        key = f"{namespace}x" if namespace.endswith(".") else namespace  # a prefix, or the whole key
        key = f"name{namespace}" if namespace.startswith(".") else key  # a suffix
        names.append(unique_name(f"tool{number}"))
        made_by_old_oblako(names[-1], labels={key: "theirs", "maintainer": "the image's own label"})
    wrapped = compat.wrap(backend)
    for name in names:
        with pytest.raises(NotOwnedError):
            wrapped.stop(name)
        with pytest.raises(NotOwnedError):
            Service("x", IMAGE, backend=backend, container_name=name, adopt=True).start()
        assert wrapped.status(name) == compat.RUNNING


def test_service_adopt_replaces_oblakos_old_container_and_keeps_its_data(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str]
) -> None:
    name = unique_name("dynamodb")
    volume = made_by_old_oblako(name)
    client = backend.docker_client()
    with pytest.raises(NotOwnedError):  # not adopting: refused
        Service("x", IMAGE, backend=backend, container_name=name).start()
    svc = Service(
        "dynamodb", IMAGE, backend=backend, container_name=name, adopt=True,
        volumes={volume: {"bind": "/data", "mode": "rw"}}, command=["sh", "-c", KEEPER],
    )  # fmt: skip
    assert svc.start() is True
    info = backend.inspect(name)
    assert info is not None and info.owned
    from oblako_backends.testing.contract import wait_for

    wait_for(lambda: svc.logs() != "", "the adopted service's first line")
    assert svc.logs() == "kept-data\n"  # the old container's data, in its named volume
    svc.stop()
    assert client.volumes.get(volume) is not None


GRACEFUL = "trap 'echo stopped-gracefully > /data/trap; exit 0' TERM; sleep 600 & wait"
# The new container shows what the old one's trap wrote, and itself ends on SIGTERM (a shell as
# PID 1 ignores it otherwise, and its stop would wait out the whole stop_timeout).
SHOWS_THE_TRAP = "cat /data/trap; trap 'exit 0' TERM; sleep 600 & wait"


def test_adopting_checks_first_and_leaves_the_old_container_running_when_it_cannot_replace_it(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str]
) -> None:
    """An image that cannot be had, or a host port something else holds: refused before the
    old container is touched (it used to be killed first, and then the start failed)."""
    name = unique_name("keep")
    made_by_old_oblako(name)
    repository = IMAGE.rsplit(":", 1)[0]
    with pytest.raises(ImageNotFoundError):
        Service("db", f"{repository}:does-not-exist", backend=backend, container_name=name, adopt=True).start()
    assert backend.status(name) == compat.RUNNING
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        svc = Service("db", IMAGE, backend=backend, container_name=name, adopt=True, ports={"8080/tcp": held})
        with pytest.raises(PortInUseError, match="the old container was left running"):
            svc.start()
    assert backend.status(name) == compat.RUNNING


def test_adopting_stops_the_old_container_gracefully_and_keeps_its_volumes(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str]
) -> None:
    """The old container's SIGTERM trap runs (it used to be killed), its named volume and its
    anonymous one stay; and a start that then fails says what became of the old container."""
    name = unique_name("graceful")
    api = backend.docker_client().api
    created = api.create_container(IMAGE, ["sh", "-c", GRACEFUL], name=name, volumes=["/data"])  # anonymous
    anonymous = ""
    try:
        api.start(created["Id"])
        mounts = api.inspect_container(created["Id"])["Mounts"]
        anonymous = next(m["Name"] for m in mounts if m["Destination"] == "/data")
        wait_for(lambda: api.inspect_container(created["Id"])["State"]["Running"], "the old container to run")
        svc = Service(
            "db", IMAGE, backend=backend, container_name=name, adopt=True, stop_timeout=20,
            volumes={anonymous: {"bind": "/data", "mode": "rw"}}, command=["sh", "-c", SHOWS_THE_TRAP],
        )  # fmt: skip
        assert svc.start() is True
        wait_for(lambda: svc.logs() != "", "the adopted service's first line")
        assert svc.logs() == "stopped-gracefully\n"  # its trap ran, and its anonymous volume was kept
        svc.stop()
    finally:
        with contextlib.suppress(Exception):
            api.remove_container(name, force=True)
        with contextlib.suppress(Exception):
            api.remove_volume(anonymous, force=True)


def test_a_failed_adoption_says_what_became_of_the_old_container(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str]
) -> None:
    name = unique_name("failed")
    volume = made_by_old_oblako(name)
    svc = Service("db", IMAGE, backend=backend, container_name=name, adopt=True, command=["/no/such/program"])
    with pytest.raises(OblakoBackendError, match="was stopped .* and removed; its volumes, anonymous ones included"):
        svc.start()
    assert backend.docker_client().volumes.get(volume) is not None
    with contextlib.suppress(Exception):
        backend.remove(name)


def test_adopt_refuses_a_container_running_another_image(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique_name("other-image")
    made_by_old_oblako(name)
    assert cli(["adopt", name, "localhost/another-repository:1"]) == 1
    assert "not the repository of 'localhost/another-repository:1'" in capsys.readouterr().err
    assert backend.status(name) == compat.RUNNING


def test_the_cli_adopts_oblakos_old_container(
    backend: Backend, unique_name: Names, made_by_old_oblako: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique_name("cli-adopt")
    volume = made_by_old_oblako(name)
    assert cli(["adopt", "-v", f"{volume}:/data", name, IMAGE, "sh", "-c", KEEPER]) == 0  # docker's shape
    out, err = capsys.readouterr()
    assert out == f"{name}\n" and f"adopted {name}" in err
    info = backend.inspect(name)
    assert info is not None and info.owned
    from oblako_backends.testing.contract import wait_for

    wait_for(lambda: backend.logs(name) != "", "the adopted container's first line")
    assert backend.logs(name) == "kept-data\n"
    backend.remove(name)


def _serves(port: int) -> bool:
    try:
        return runtimes.http_get("127.0.0.1", port, timeout=2)[0] == 200
    except OSError:
        return False
