"""Service lifecycle and the Backend facade, on the in-memory reference backend."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from oblako_backends import (
    ABSENT,
    RUNNING,
    STOPPED,
    ImageNotFoundError,
    InvalidSpecError,
    NotOwnedError,
    PortInUseError,
    Service,
    ServiceNotReadyError,
    State,
    get_backend,
    log_check,
)
from oblako_backends.backend import Backend


@pytest.fixture
def backend() -> Backend:
    return get_backend("memory")


def test_state_values_compare_equal_to_oblakos_strings() -> None:
    assert (RUNNING, STOPPED, ABSENT) == ("running", "stopped", "absent")
    assert State("running") is RUNNING
    assert f"{STOPPED}" == "stopped"


def test_start_is_idempotent_and_names_the_container_after_the_service(backend: Backend) -> None:
    svc = Service("s3", "localhost/s3:1", backend=backend, ports={"8000/tcp": 8001})
    assert svc.container_name == "oblako-s3"
    assert svc.start() is True
    assert svc.start() is False
    assert [c.name for c in backend.list()] == ["oblako-s3"]
    assert backend.list()[0].service == "s3"


def test_start_recreates_a_stopped_leftover(backend: Backend) -> None:
    svc = Service("s3", "localhost/s3:1", backend=backend)
    svc.start()
    backend.plugin.exit("oblako-s3")
    assert svc.status().state == STOPPED
    assert svc.start() is True
    assert svc.status().state == RUNNING


def test_a_changed_spec_is_recreated_not_reported_as_running(backend: Backend) -> None:
    Service("db", "localhost/db:1", backend=backend, environment={"MODE": "a"}).start()
    changed = Service("db", "localhost/db:1", backend=backend, environment={"MODE": "b"})
    assert changed.start() is True
    (info,) = backend.list()
    assert info.spec_hash == changed.spec.fingerprint()


def test_start_refuses_a_container_it_did_not_create(backend: Backend) -> None:
    backend.plugin.add_foreign("oblako-s3")
    with pytest.raises(NotOwnedError, match="oblako-s3"):
        Service("s3", "localhost/s3:1", backend=backend).start()
    with pytest.raises(NotOwnedError):
        backend.stop("oblako-s3")
    with pytest.raises(NotOwnedError):
        backend.remove("oblako-s3")
    assert backend.status("oblako-s3") == RUNNING  # left alone


def test_stop_removes_and_is_a_no_op_when_absent(backend: Backend) -> None:
    svc = Service("s3", "localhost/s3:1", backend=backend)
    svc.start()
    svc.stop()
    assert svc.status().state == ABSENT
    svc.stop()
    backend.remove("oblako-s3")


def test_restart_gives_a_fresh_container(backend: Backend) -> None:
    svc = Service("s3", "localhost/s3:1", backend=backend)
    svc.start()
    backend.plugin.emit("oblako-s3", "old line")
    svc.restart()
    assert "old line" not in svc.logs()
    assert svc.status().state == RUNNING


def test_status_reports_an_unreachable_runtime_as_an_error_not_an_exception(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    monkeypatch.setenv("OBLAKO_PROBE_TIMEOUT", "1")
    status = Service("s3", "localhost/s3:1", backend=get_backend("docker")).status()
    assert not status.ok and status.state is None
    assert "not reachable" in str(status) and "none.sock" in str(status)


def test_wait_ready_uses_the_health_check(backend: Backend) -> None:
    svc = Service("q", "localhost/q:1", backend=backend, health_check=log_check("ready to serve"))
    svc.start()
    threading.Timer(0.3, backend.plugin.emit, ("oblako-q", "ready to serve")).start()
    svc.wait_ready(timeout=10)


def test_wait_ready_timeout_carries_the_last_log_lines(backend: Backend) -> None:
    svc = Service("q", "localhost/q:1", backend=backend)
    svc.start()
    backend.plugin.emit("oblako-q", "config error: no bucket")
    with pytest.raises(ServiceNotReadyError) as info:
        svc.wait_ready(timeout=0.3, health_check=lambda s, i: False)
    assert "not ready within 0.3 s" in str(info.value)
    assert "config error: no bucket" in info.value.logs
    assert "config error: no bucket" in str(info.value)


def test_wait_ready_fails_fast_when_the_container_exits(backend: Backend) -> None:
    svc = Service("q", "localhost/q:1", backend=backend)
    svc.start()
    backend.plugin.emit("oblako-q", "fatal: bad flag")
    backend.plugin.exit("oblako-q")
    with pytest.raises(ServiceNotReadyError, match="is stopped instead of becoming ready"):
        svc.wait_ready(timeout=30, health_check=lambda s, i: False)


def test_logs_tail_and_follow(backend: Backend) -> None:
    backend.run(name="l", image="busybox")
    for i in range(5):
        backend.plugin.emit("l", f"line {i}")
    assert backend.logs("l", tail=2) == "line 3\nline 4\n"
    assert backend.logs("gone") == ""
    with backend.follow_logs("l", tail=1) as stream:
        threading.Timer(0.2, backend.plugin.emit, ("l", "line 5")).start()
        assert next(stream) == "line 4"
        assert next(stream) == "line 5"
        threading.Timer(0.2, stream.close).start()
        assert list(stream) == []  # closing from another thread ends a blocked read
    with pytest.raises(InvalidSpecError, match="tail"):
        backend.logs("l", tail=-1)


def test_port_conflicts_and_missing_images_raise_the_core_errors() -> None:
    backend = get_backend("memory", pullable=["busybox"])
    backend.run(name="a", image="busybox", ports={"80/tcp": 9000})
    with pytest.raises(PortInUseError) as info:
        backend.run(name="b", image="busybox", ports={"81/tcp": 9000})
    assert info.value.port == 9000 and isinstance(info.value, RuntimeError)
    with pytest.raises(ImageNotFoundError):
        backend.run(name="c", image="localhost/missing:1")


def test_invalid_input_is_refused_before_the_plugin_is_called(backend: Backend) -> None:
    calls: list[str] = []
    backend._pm.add_hookcall_monitoring(lambda name, impls, kw: calls.append(name), lambda *a: None)
    for bad in (
        lambda: backend.run(name="bad name", image="busybox"),
        lambda: backend.status("bad/name"),
        lambda: backend.ensure_image("Not An Image"),
    ):
        with pytest.raises(InvalidSpecError):
            bad()
    assert calls == []


def test_drives_the_backend_exactly_as_oblakos_base_py_does(backend: Backend) -> None:
    """oblako's services/base.py today: status check, run with keywords, logs, stop."""
    from oblako_backends import ABSENT as _ABSENT, RUNNING as _RUNNING, STOPPED as _STOPPED

    name = "oblako-dynamodb"
    kwargs = dict(
        name=name,
        image="localhost/dynamodb:1",
        ports={"8000/tcp": 8002},
        environment={"AWS_REGION": "us-east-1"},
        volumes={"oblako-dynamodb-data": {"bind": "/data", "mode": "rw"}},
        extra_hosts={"host.docker.internal": "host-gateway"},
        command="-jar DynamoDBLocal.jar -sharedDb",
        working_dir="/home/dynamodblocal",
        user="root",
    )
    assert backend.status(name) == _ABSENT
    backend.ensure_image(kwargs["image"])
    backend.run(**kwargs)
    assert backend.status(name) == _RUNNING
    with pytest.raises(RuntimeError, match="8002"):  # base.py catches PortInUseError so
        backend.run(**{**kwargs, "name": "oblako-other"})
    assert "DynamoDBLocal.jar" in backend.logs(name, tail=50)
    backend.stop(name)
    assert backend.status(name) in (_STOPPED, _ABSENT)
    assert backend.logs(name) == ""
    backend.stop(name)


def test_each_readiness_poll_costs_one_inspect_and_the_check_gets_its_result(backend: Backend) -> None:
    svc = Service("q", "localhost/q:1", backend=backend, ports={"80/tcp": None})
    svc.start()
    inspects: list[str] = []
    backend._pm.add_hookcall_monitoring(
        lambda name, impls, kw: inspects.append(name) if name == "oblako_inspect" else None, lambda *a: None
    )
    seen: list[object] = []

    def third_time_lucky(service: Service, info: object) -> bool:
        seen.append(info)
        return len(seen) == 3

    svc.wait_ready(timeout=30, health_check=third_time_lucky, interval=0.01)
    assert len(inspects) == 3
    assert all(getattr(info, "name", None) == "oblako-q" for info in seen)


def test_an_endpoint_published_on_every_address_is_reached_through_loopback() -> None:
    from oblako_backends import ContainerInfo, PublishedPort

    info = ContainerInfo(
        "x",
        RUNNING,
        ports=(PublishedPort(80, "tcp", "0.0.0.0", 9000), PublishedPort(53, "udp", "10.1.2.3", 5300)),
    )
    assert info.endpoint(80) == ("127.0.0.1", 9000)
    assert info.endpoint(53, "udp") == ("10.1.2.3", 5300)
    assert info.endpoint(53) is None


def test_a_service_as_a_context_manager_runs_inside_the_block_and_is_gone_after(backend: Backend) -> None:
    with Service("ctx", "localhost/ctx:1", backend=backend) as svc:
        assert svc.status().state == RUNNING
    assert backend.status("oblako-ctx") == ABSENT


def test_the_context_manager_stops_the_service_when_the_block_raises(backend: Backend) -> None:
    with pytest.raises(KeyError), Service("boom", "localhost/boom:1", backend=backend):
        assert backend.status("oblako-boom") == RUNNING
        raise KeyError("the caller's own failure")
    assert backend.status("oblako-boom") == ABSENT


def test_the_context_manager_stops_a_service_that_never_became_ready(backend: Backend) -> None:
    def crashes(service: Service, info: object) -> bool:  # its process dies before it is ready
        backend.plugin.exit("oblako-never")
        return False

    never = Service("never", "localhost/never:1", backend=backend, health_check=crashes)
    with pytest.raises(ServiceNotReadyError, match="is stopped instead of becoming ready"), never:
        pytest.fail("the block must not run")
    assert backend.status("oblako-never") == ABSENT


def test_a_misspelt_field_is_a_type_error_that_mypy_names_before_it_runs(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'prots'"):
        Service("s3", "localhost/s3:1", prots={"80/tcp": None})  # type: ignore[call-arg]
    from mypy import api

    (tmp_path / "uses.py").write_text(
        "from oblako_backends import Service\nService('s3', 'localhost/s3:1', prots={'80/tcp': None})\n"
    )
    out, _, status = api.run([str(tmp_path / "uses.py"), "--no-incremental", "--ignore-missing-imports"])
    assert status == 1 and 'Unexpected keyword argument "prots" for "Service"' in out


def test_runtime_timestamps_order_by_their_moment_and_an_unreadable_one_never_counts_as_first_or_recent() -> None:
    """Which of two same-named networks was created first decides which one a project uses."""
    import math
    import time

    from oblako_backends.models import epoch_seconds, seconds_since

    docker_style = ["2026-11-29T20:11:38.1234Z", "2026-11-29T20:11:38.12345Z", "2026-11-29T20:11:38.123456789Z"]
    assert sorted(docker_style, key=epoch_seconds) == docker_style  # Go trims trailing zeros: text order is wrong
    assert sorted(docker_style) != docker_style
    assert epoch_seconds("2026-11-29T21:11:38+01:00") == epoch_seconds("2026-11-29T20:11:38Z")
    for unreadable in ("", "yesterday", "2026-11-29T20:11:38"):  # the last has no zone: no moment
        assert epoch_seconds(unreadable) == math.inf and seconds_since(unreadable) == math.inf
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert 0 <= seconds_since(now) < 60


class _Listener:
    """A real TCP listener on loopback: `quiet` keeps each connection open (a server waiting
    for a request); otherwise it closes each at once, as an engine's port proxy does when
    nothing listens in the container."""

    def __init__(self, quiet: bool) -> None:
        import socket

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[object] = []
        self.quiet = quiet
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.quiet:
                self.held.append(conn)
            else:
                conn.close()

    def close(self) -> None:
        self.sock.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once this socket is closed


def test_readiness_connects_to_a_routed_container_address_where_accepting_is_enough() -> None:
    from oblako_backends import ContainerInfo, PublishedPort
    from oblako_backends.service import tcp_check

    server = _Listener(quiet=False)  # accepts, then closes: at a published port, a proxy's answer
    try:
        published = ContainerInfo("x", RUNNING, ports=(PublishedPort(80, "tcp", "127.0.0.1", server.port),))
        assert not tcp_check(80)(None, published)  # type: ignore[arg-type]
        direct = ContainerInfo("x", RUNNING, address="127.0.0.1")  # routed: only the service itself accepts
        assert tcp_check(server.port)(None, direct)  # type: ignore[arg-type]
        assert not tcp_check(_closed_port())(None, direct)  # type: ignore[arg-type]
    finally:
        server.close()


def test_a_refused_routed_address_leaves_the_verdict_to_the_published_port() -> None:
    from oblako_backends import ContainerInfo, PublishedPort
    from oblako_backends.service import tcp_check

    proxy, real = _Listener(quiet=False), _Listener(quiet=True)
    try:
        container_port = _closed_port()
        through_proxy = ContainerInfo(
            "x", RUNNING, ports=(PublishedPort(container_port, "tcp", "127.0.0.1", proxy.port),), address="127.0.0.1"
        )
        assert not tcp_check(container_port)(None, through_proxy)  # type: ignore[arg-type]
        through_real = ContainerInfo(
            "x", RUNNING, ports=(PublishedPort(container_port, "tcp", "127.0.0.1", real.port),), address="127.0.0.1"
        )
        assert tcp_check(container_port)(None, through_real)  # type: ignore[arg-type]
    finally:
        proxy.close()
        real.close()
