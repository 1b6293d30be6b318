"""What the Docker-API backends (docker, podman, colima) do beyond the shared contract
(test_contract.py), against real engines the harness starts; see conftest.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import runtimes
from oblako_backends import (
    ABSENT,
    RUNNING,
    STOPPED,
    ConfigurationError,
    ImageNotFoundError,
    OblakoBackendError,
    RuntimeUnavailableError,
    Service,
    get_backend,
)
from oblako_backends.backend import Backend
from oblako_backends.options import FileSpec
from oblako_backends.spec import BuildSpec
from oblako_backends.testing.contract import wait_for

IMAGE = runtimes.TEST_IMAGE
Names = Callable[[str], str]


ENGINES = ["docker", "podman", "colima"]
ENGINE_NAMES = {"docker": "Docker Engine", "podman": "Podman Engine", "colima": "Docker Engine"}


def test_probe_reports_the_engine(backend: Backend, engine: runtimes.Engine) -> None:
    probe = backend.probe()
    assert probe.reachable, probe.error
    assert (probe.endpoint, probe.endpoint_source) == (engine.url, engine.source)
    assert probe.engine == ENGINE_NAMES[engine.backend] and probe.version[:1].isdigit()
    assert {"build", "named_volumes", "docker_api"} <= probe.capabilities


def test_the_plugin_logs_under_its_own_package_where_it_connected(
    engine: runtimes.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from oblako_backends import get_backend

    caplog.set_level(logging.DEBUG, logger="oblako_backend_docker")
    get_backend().list()  # connects
    (record,) = [r for r in caplog.records if r.name == "oblako_backend_docker.plugin"]
    assert f"at {engine.url} (from " in record.getMessage()


def test_commands_learn_the_engine_from_its_ping_as_doctor_does_from_version(
    engine: runtimes.Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Podman takes ~0.4 s to answer /version, so every command asked it in vain: /_ping's
    headers name the same engine, version and API version at once. Only doctor asks /version."""
    import logging

    import docker
    from oblako_backends import get_backend

    probe = get_backend().probe()
    assert probe.reachable and probe.details["platform"] == "linux/amd64"

    def not_asked(*args: object, **kwargs: object) -> None:
        raise AssertionError("a command asked /version")

    monkeypatch.setattr(docker.APIClient, "version", not_asked)
    caplog.set_level(logging.DEBUG, logger="oblako_backend_docker")
    get_backend().list()
    (record,) = [r for r in caplog.records if r.name == "oblako_backend_docker.plugin"]
    assert f"{probe.engine} {probe.version} at {engine.url} " in record.getMessage()
    assert record.getMessage().endswith(f"API {probe.details['api version']}")


def test_an_http_service_serves_on_loopback_through_its_published_port(backend: Backend, unique_name: Names) -> None:
    svc = Service(unique_name("web"), IMAGE, backend=backend, ports={"8080/tcp": None})
    svc.start()
    svc.wait_ready(timeout=30)
    host, port = svc.endpoint(8080) or ("", 0)
    assert host == "127.0.0.1"
    assert runtimes.http_get(host, port) == (200, "hello from oblako-test\n")
    (info,) = [c for c in backend.list() if c.name == svc.container_name]
    assert [(p.host_ip, p.host_port) for p in info.ports] == [("127.0.0.1", port)]


def test_a_container_on_this_machines_bridge_is_reached_at_its_own_address(
    backend: Backend, unique_name: Names
) -> None:
    svc = Service(unique_name("direct"), IMAGE, backend=backend, ports={"8080/tcp": None})
    svc.start()
    svc.wait_ready(timeout=30)
    info = svc.info()
    assert info is not None
    networks = backend.docker_client().api.inspect_container(svc.container_name)["NetworkSettings"]["Networks"]
    assert info.address and info.address in [
        n["IPAddress"] for n in networks.values()
    ]  # readiness connects here, past the proxy
    assert runtimes.http_get(info.address, 8080) == (200, "hello from oblako-test\n")


def test_a_missing_image_that_cannot_be_pulled(backend: Backend, unique_name: Names) -> None:
    with pytest.raises(ImageNotFoundError, match="localhost/oblako-missing:1"):
        backend.run(name=unique_name("missing"), image="localhost/oblako-missing:1")
    assert backend.status(unique_name("missing")) == ABSENT


def test_build_then_run_the_built_image(backend: Backend, unique_name: Names, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN echo built-in > /www/built.txt\n")
    tag = f"localhost/{unique_name('built')}:1"
    lines: list[str] = []
    backend.build_image(tag, str(tmp_path), progress=lines.append)
    assert any("RUN echo built-in" in line for line in lines)
    svc = Service(unique_name("built"), tag, backend=backend, ports={"8080/tcp": None})
    svc.start()
    svc.wait_ready(timeout=30)
    assert runtimes.http_get(*svc.endpoint(8080) or ("", 0), path="/built.txt") == (200, "built-in\n")  # type: ignore[misc]


def test_a_built_image_carries_its_labels_and_build_secrets_are_refused_before_anything_is_built(
    backend: Backend, unique_name: Names, tmp_path: Path
) -> None:
    """The Engine API's /build is the classic builder (no BuildKit session): a secret cannot
    reach `RUN --mount=type=secret`, so it is refused by name, and the engine has no such image."""
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n")
    tag = f"localhost/{unique_name('secret')}:1"
    secret = FileSpec("/run/secrets/tok", b"s3cret-value")
    with pytest.raises(ConfigurationError, match=r"build\.secrets: the \w+ backend cannot apply it") as refused:
        backend.build_image(tag, str(tmp_path), build=BuildSpec(secrets=(secret,)))
    assert "docker buildx build --secret" in str(refused.value) and "s3cret-value" not in str(refused.value)
    client = backend.docker_client()
    assert not [i for i in client.images.list() if tag in i.tags]
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\n")
    backend.build_image(tag, str(tmp_path), build=BuildSpec(labels={"tier": "web", "team": "build"}))
    labels = client.images.get(tag).labels
    assert (labels["tier"], labels["team"]) == ("web", "build")


def test_a_relabelled_bind_reaches_the_engine_with_its_selinux_option(
    backend: Backend, unique_name: Names, tmp_path: Path
) -> None:
    """`:z`/`:Z` are passed in HostConfig.Binds, as `docker run -v SRC:DST:z` passes them. This
    machine has no SELinux, so the relabelling itself (a changed file label) cannot be seen
    here. Docker reports the option back; Podman, without SELinux, drops relabel options from
    the mount before anything can report them, so there only the bind is checked."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "hello.txt").write_text("hello\n")
    (tmp_path / "private").mkdir()
    name = unique_name("relabel")
    volumes = [
        (str(tmp_path / "shared"), {"bind": "/shared", "mode": "ro", "selinux": "z"}),
        (str(tmp_path / "private"), {"bind": "/private", "mode": "rw", "selinux": "Z"}),
    ]
    backend.run(name=name, image=IMAGE, volumes=volumes, command=["sh", "-c", "cat /shared/hello.txt; sleep 600"])
    wait_for(lambda: backend.logs(name) == "hello\n", "the container to read the bind")
    binds = backend.docker_client().api.inspect_container(name)["HostConfig"]["Binds"]
    options = {b.split(":")[1]: set(b.split(":")[2].split(",")) for b in binds}
    assert {"ro"} <= options["/shared"] and {"rw"} <= options["/private"], binds
    if backend.name != "podman":
        assert "z" in options["/shared"] and "Z" in options["/private"], binds


def test_docker_client_reaches_the_same_daemon(backend: Backend, unique_name: Names) -> None:
    name = unique_name("same")
    backend.run(name=name, image=IMAGE)
    assert backend.docker_client().containers.get(name).labels["oblako.managed-by"] == "oblako-backends"


def test_drives_the_backend_exactly_as_oblakos_base_py_does(backend: Backend, unique_name: Names) -> None:
    name = unique_name("dynamodb")
    kwargs = dict(
        name=name,
        image=IMAGE,
        ports={"8080/tcp": None},
        environment={"AWS_REGION": "us-east-1"},
        volumes={},
        extra_hosts={"host.docker.internal": "host-gateway"},
        command="sh -c 'grep host.docker.internal /etc/hosts; trap \"exit 0\" TERM; httpd -f -p 8080 -h /www & wait'",
        working_dir="/www",
        user="root",
    )
    if backend.status(name) == STOPPED:
        backend.remove(name)
    backend.ensure_image(IMAGE)
    backend.run(**kwargs)
    wait_for(lambda: "host.docker.internal" in backend.logs(name, tail=50), "the hosts entry")
    assert backend.status(name) == RUNNING
    backend.stop(name)
    assert backend.status(name) == ABSENT
    assert backend.logs(name, tail=50) == ""
    backend.stop(name)


class SilentServer:
    """A unix socket that accepts connections and never answers: a wedged daemon."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("name", ENGINES)
def test_a_silent_daemon_errors_within_the_deadline(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLAKO_PROBE_TIMEOUT", "1")
    server = SilentServer(tmp_path / "silent.sock")
    try:
        backend = get_backend(name, base_url=f"unix://{tmp_path}/silent.sock", timeout=1)
        started = time.monotonic()
        probe = backend.probe(timeout=1)
        assert not probe.reachable and "timed out" in probe.error
        with pytest.raises(RuntimeUnavailableError, match="silent.sock"):
            backend.status("anything")
        assert time.monotonic() - started < 20  # bounded: never a hang
    finally:
        server.close()


@pytest.mark.runtime
def test_a_stopped_daemon_errors_and_a_restarted_one_is_used_again() -> None:
    directory = Path(tempfile.mkdtemp(prefix="oblako-restart-"))
    sock = directory / "docker.sock"
    # A second engine gets a bridge of its own: sharing docker0 would break the session's engine.
    with runtimes.private_bridge("oblako-rst0", "10.213.7.1/24") as bridge:
        daemon = runtimes.start_dockerd(directory, bridge=bridge)
        try:
            backend = get_backend("docker", base_url=daemon.url, timeout=5)
            assert backend.list() == []
            daemon.stop()
            started = time.monotonic()
            with pytest.raises(RuntimeUnavailableError) as info:
                backend.list()
            assert time.monotonic() - started < 20
            assert str(sock) in str(info.value) and "Start Docker" in str(info.value)
            daemon = runtimes.start_dockerd(directory, bridge=bridge)
            assert backend.list() == []  # the same Backend object reconnects
        finally:
            daemon.stop()


def test_module_docker_client_follows_the_selected_backend(
    backend: Backend,
    unique_name: Names,
    engine: runtimes.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compute paths' client reaches the services' daemon, and falls back without a Docker API."""
    import oblako_backends

    name = unique_name("compute")
    backend.run(name=name, image=IMAGE)
    assert oblako_backends.docker_client().containers.get(name).name == name  # the selected backend's daemon
    if engine.backend != "docker":
        return
    monkeypatch.setenv("DOCKER_HOST", engine.url)
    monkeypatch.setenv("OBLAKO_CONTAINER_BACKEND", "memory")  # no Docker API: the ambient environment
    assert oblako_backends.docker_client().containers.get(name).name == name


def test_pull_from_a_registry_with_progress(backend: Backend, registry: runtimes.Registry, unique_name: Names) -> None:
    client = backend.docker_client()
    with contextlib.suppress(Exception):  # the colima and docker engines are one daemon here
        client.images.remove(registry.image, force=True)
    lines: list[str] = []
    backend.ensure_image(registry.image, progress=lines.append)
    assert lines[0] == f"pulling {registry.image}" and len(lines) > 1
    name = unique_name("pulled")
    backend.run(name=name, image=registry.image, command=["echo", "pulled and ran"])
    wait_for(lambda: backend.status(name) == STOPPED, "the pulled image to run")
    assert backend.logs(name) == "pulled and ran\n"
    lines.clear()
    backend.ensure_image(registry.image, progress=lines.append)
    assert lines == []  # present: no pull


def test_a_command_missing_from_the_image_says_so(backend: Backend, unique_name: Names) -> None:
    name = unique_name("nocmd")
    with pytest.raises(OblakoBackendError, match="executable 'no-such-tool' is not in the image"):
        backend.run(name=name, image=IMAGE, command=["no-such-tool", "--flag"])
    assert backend.status(name) == ABSENT


def test_containers_reach_a_fixed_port_service_through_the_host(backend: Backend, unique_name: Names) -> None:
    """oblako's services talk to each other through the host: host.docker.internal:<published port>."""
    port = runtimes.free_port()
    server = Service(unique_name("server"), IMAGE, backend=backend, ports={"8080/tcp": port})
    server.start()
    server.wait_ready(timeout=30)
    assert server.endpoint(8080) == ("127.0.0.1", port)
    client = unique_name("client")
    backend.run(
        name=client,
        image=IMAGE,
        extra_hosts={"host.docker.internal": "host-gateway"},
        command=f"sh -c 'wget -q -O - http://host.docker.internal:{port}/ || echo fetch failed'",
    )
    wait_for(lambda: backend.status(client) == STOPPED, "the client to finish", timeout=30)
    assert backend.logs(client) == "hello from oblako-test\n"


@contextlib.contextmanager
def own_namespace(routed: bool = False) -> Iterator[tuple[str, str]]:
    """A network namespace of the test's own, joined to this host by a veth pair.

    Yields (namespace, the host's address on the pair). Addresses are the test's own, so
    traffic goes nowhere but to this host. `routed`: its default route is this host, as for a
    machine on a network that routes through it (so it can reach the host's other addresses).
    """
    token = uuid.uuid4().hex[:6]
    namespace, outside, inside = f"oblako-{token}", f"ob{token}h", f"ob{token}n"
    octet = int(token[:2], 16)
    host_ip, ns_ip = f"10.231.{octet}.1", f"10.231.{octet}.2"
    ip = runtimes.locate("ip") or "ip"
    iptables = runtimes.locate("iptables") or shutil.which("iptables", path="/usr/sbin:/sbin") or "iptables"

    def run(*argv: str) -> None:
        subprocess.run([ip, *argv], check=True, timeout=30, capture_output=True)

    run("netns", "add", namespace)
    try:
        run("link", "add", outside, "type", "veth", "peer", "name", inside)
        run("link", "set", inside, "netns", namespace)
        run("addr", "add", f"{host_ip}/30", "dev", outside)
        run("link", "set", outside, "up")
        run("-n", namespace, "addr", "add", f"{ns_ip}/30", "dev", inside)
        run("-n", namespace, "link", "set", inside, "up")
        run("-n", namespace, "link", "set", "lo", "up")
        if routed:
            run("-n", namespace, "route", "add", "default", "via", host_ip)
        # Docker Engine sets the FORWARD policy to DROP, which also drops what Podman's own
        # rules leave to the policy; a host running both needs this. Only our veth is opened.
        subprocess.run([iptables, "-I", "FORWARD", "-i", outside, "-j", "ACCEPT"], check=True, timeout=30)
        yield namespace, host_ip
    finally:
        subprocess.run([iptables, "-D", "FORWARD", "-i", outside, "-j", "ACCEPT"], check=False, timeout=30)
        subprocess.run([ip, "link", "delete", outside], check=False, timeout=30, capture_output=True)
        subprocess.run([ip, "netns", "delete", namespace], check=False, timeout=30, capture_output=True)


FETCH = """
import sys, urllib.request
try:
    print(urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/", timeout=5).read().decode(), end="")
except OSError as exc:
    print(f"failed: {exc}")
"""


def fetch_from(namespace: str, host: str, port: int) -> str:
    ip = runtimes.locate("ip") or "ip"
    argv = [ip, "netns", "exec", namespace, sys.executable, "-c", FETCH, host, str(port)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_published_ports_are_loopback_only_unless_widened(
    backend: Backend, unique_name: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    with own_namespace() as (namespace, host_ip):
        private = Service(unique_name("private"), IMAGE, backend=backend, ports={"8080/tcp": None})
        private.start()
        private.wait_ready(timeout=30)
        _, port = private.endpoint(8080) or ("", 0)
        assert runtimes.http_get("127.0.0.1", port)[1] == "hello from oblako-test\n"
        assert fetch_from(namespace, host_ip, port).startswith("failed:")

        monkeypatch.setenv("OBLAKO_BIND_ADDRESS", "0.0.0.0")
        shared = Service(unique_name("shared"), IMAGE, backend=backend, ports={"8080/tcp": None})
        shared.start()
        shared.wait_ready(timeout=30)
        _, port = shared.endpoint(8080) or ("", 0)
        assert fetch_from(namespace, host_ip, port) == "hello from oblako-test\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_an_address_named_for_a_port_is_never_widened(
    backend: Backend, unique_name: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OBLAKO_BIND_ADDRESS=0.0.0.0 widens the ports that name no address. A fixed port the user
    published at 127.0.0.1 (as Compose's "127.0.0.1:PORT:80") stays there alone: not on 0.0.0.0,
    not on the bridge gateway, unreachable from a machine routed to this one."""
    monkeypatch.setenv("OBLAKO_BIND_ADDRESS", "0.0.0.0")
    port = runtimes.free_port()
    with own_namespace() as (namespace, host_ip):
        named = Service(unique_name("named"), IMAGE, backend=backend, ports={"8080/tcp": ("127.0.0.1", port)})
        named.start()
        named.wait_ready(timeout=30)
        assert runtimes.http_get("127.0.0.1", port)[1] == "hello from oblako-test\n"
        assert fetch_from(namespace, host_ip, port).startswith("failed:")
        bound = backend.docker_client().api.inspect_container(named.container_name)["HostConfig"]["PortBindings"]
        assert bound["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]

        widened = Service(unique_name("widened"), IMAGE, backend=backend, ports={"8080/tcp": None})
        widened.start()
        widened.wait_ready(timeout=30)
        _, any_port = widened.endpoint(8080) or ("", 0)
        assert fetch_from(namespace, host_ip, any_port) == "hello from oblako-test\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_the_bridge_gateway_listener_is_reachable_when_routed_and_can_be_switched_off(
    backend: Backend, unique_name: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the README says about exposure: a fixed host port also listens on the bridge
    gateway, which a machine routed through this host can reach; OBLAKO_PUBLISH_GATEWAY=0 stops that."""
    gateway = backend.plugin.host_gateway()
    assert gateway, "this engine runs here, so its bridge gateway is an address of this machine"
    port = runtimes.free_port()
    with own_namespace(routed=True) as (namespace, _):
        exposed = Service(unique_name("exposed"), IMAGE, backend=backend, ports={"8080/tcp": port})
        exposed.start()
        exposed.wait_ready(timeout=30)
        assert fetch_from(namespace, gateway, port) == "hello from oblako-test\n"
        assert f"bridge gateway {gateway}" in backend.probe().details["ports listen on"]
        exposed.stop()

        monkeypatch.setenv("OBLAKO_PUBLISH_GATEWAY", "0")
        private = Service(unique_name("private"), IMAGE, backend=backend, ports={"8080/tcp": port})
        private.start()
        private.wait_ready(timeout=30)
        assert runtimes.http_get("127.0.0.1", port)[1] == "hello from oblako-test\n"
        assert fetch_from(namespace, gateway, port).startswith("failed:")
        assert backend.probe().details["ports listen on"] == "127.0.0.1 only"


def test_the_cli_runs_a_container_showing_pull_progress(
    backend: Backend, registry: runtimes.Registry, unique_name: Names, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends import cli

    with contextlib.suppress(Exception):
        backend.docker_client().images.remove(registry.image, force=True)
    name = unique_name("cli")
    assert cli.main(["run", "--name", name, "-e", "WHO=cli", registry.image, "sh", "-c", "echo hello $WHO"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{name}\n"
    assert f"pulling {registry.image}" in err
    wait_for(lambda: backend.status(name) == STOPPED, "the command to finish")
    assert cli.main(["logs", name]) == 0
    assert capsys.readouterr().out == "hello cli\n"
    assert cli.main(["rm", name]) == 0
    assert backend.status(name) == ABSENT


def test_bind_mounts_and_labels(backend: Backend, unique_name: Names, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "config.txt").write_text("from the host\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out").chmod(0o777)
    name = unique_name("bind")
    backend.run(
        name=name,
        image=IMAGE,
        volumes={str(tmp_path / "in"): {"bind": "/in", "mode": "ro"}, str(tmp_path / "out"): {"bind": "/out"}},
        labels={"team": "storage"},
        command="sh -c 'cat /in/config.txt; echo written > /out/result.txt; touch /in/x 2>/dev/null || echo read-only'",
    )
    wait_for(lambda: backend.status(name) == STOPPED, "the command to finish")
    assert backend.logs(name) == "from the host\nread-only\n"
    assert (tmp_path / "out" / "result.txt").read_text() == "written\n"
    info = backend.inspect(name)
    assert info is not None and info.labels["team"] == "storage" and info.owned


def test_up_starts_the_demo_services_talking_through_the_host_and_down_removes_them(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends import cli

    demo = str(runtimes.ROOT / "examples" / "demo.toml")
    try:
        assert cli.main(["up", demo]) == 0
        out, err = capsys.readouterr()
        assert any(
            line.startswith("[greeter]") and "COPY index.html /www/index.html" in line for line in err.splitlines()
        )
        assert "greeter  examples-greeter-1  127.0.0.1:18461 -> 8080/tcp" in out  # project "examples": its directory
        assert runtimes.http_get("127.0.0.1", 18462) == (200, "hello from greeter\n")  # fetched via the host
        assert "caller got: hello from greeter" in backend.logs("examples-caller-1")
    finally:
        assert cli.main(["down", demo]) == 0
    assert backend.status("examples-greeter-1") == ABSENT and backend.status("examples-caller-1") == ABSENT
    assert cli.main(["down", demo]) == 0  # idempotent


def test_up_of_a_broken_service_names_it_shows_its_logs_and_leaves_nothing_running(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str], unique_name: Names
) -> None:
    from oblako_backends import cli

    good, bad = unique_name("good"), unique_name("bad")
    services = tmp_path / "services.toml"
    services.write_text(
        f"[services.{good}]\nimage = '{IMAGE}'\nports = ['8080']\n"
        f"[services.{bad}]\nimage = '{IMAGE}'\nports = ['8080']\n"
        "command = ['sh', '-c', 'echo starting; echo \"boom: /etc/app.conf missing\"; exit 3']\n"
    )
    assert cli.main(["up", str(services)]) == 1
    err = capsys.readouterr().err
    (cause,) = [line for line in err.splitlines() if line.startswith("oblako-backends: ")]
    assert bad in cause and good not in cause
    assert "boom: /etc/app.conf missing" in err
    assert [c.name for c in backend.list()] == []  # the good one was stopped again too


def test_when_the_selected_runtime_is_silent_doctor_and_up_name_one_that_answers(
    podman_engine: runtimes.Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends import cli

    for var in ("OBLAKO_CONTAINER_BACKEND", "DOCKER_CONTEXT", "COLIMA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no Colima profile, no kubeconfig: only podman answers
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nobody.sock'}")
    monkeypatch.setenv("CONTAINER_HOST", podman_engine.url)
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "instead:      podman answers: select it with --backend podman or OBLAKO_CONTAINER_BACKEND=podman" in out
    services = tmp_path / "services.toml"
    services.write_text(f"[services.web]\nimage = '{runtimes.TEST_IMAGE}'\n")
    assert cli.main(["up", str(services)]) == 1
    err = capsys.readouterr().err
    assert "oblako-backends: podman answers: select it with --backend podman" in err
    assert "OBLAKO_CONTAINER_BACKEND=auto picks the first that answers" in err


JOB = """
import json, os, urllib.request
from oblako_backends import Service, get_backend
backend = get_backend()
seen = {"listening": backend.probe().details["ports listen on"], "answers": {}}
for name, ports in (("job-fixed", {"8080/tcp": 18431}), ("job-random", {"8080/tcp": None})):
    with Service(name, "%s", backend=backend, container_name=name, ports=ports) as svc:
        host, port = svc.endpoint(8080)
        answer = urllib.request.urlopen(f"http://{host}:{port}/", timeout=10).read().decode()
        seen["answers"][name] = [host, port, answer]
os.environ["OBLAKO_PUBLISH_GATEWAY"] = "0"  # loopback only: out of the job's reach, and doctor says so
seen["warning"] = get_backend().probe().details.get("warning", "")
print(json.dumps(seen))
"""


def test_a_ci_job_container_with_the_engines_socket_mounted_reaches_the_services_it_starts(
    docker_engine: runtimes.Daemon,
) -> None:
    """A job container on the engine's bridge, with the host's socket mounted, runs this layer
    (the host's own Python and checkout, mounted read-only into an empty image). Loopback is the
    job's own there: ports go on the engine's bridge gateway, the host as the job sees it, and
    endpoints say so. Fixed and random host ports alike answer from inside the job."""
    import docker

    client = docker.DockerClient(base_url=docker_engine.url)
    try:
        bridge = client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
        with tempfile.TemporaryDirectory() as context:
            Path(context, "Dockerfile").write_text('FROM scratch\nCMD ["/bin/true"]\n')  # only the host's files
            image, _ = client.images.build(path=context, tag="localhost/oblako-job:1")
        root = Path(__file__).resolve().parents[3]  # the checkout, its .venv included
        mounts = {str(root), sys.base_prefix, "/usr", "/bin", "/lib", "/lib64", "/etc"}
        volumes = {p: {"bind": p, "mode": "ro"} for p in mounts if Path(p).exists()}
        volumes[docker_engine.url.removeprefix("unix://")] = {"bind": "/var/run/docker.sock", "mode": "rw"}
        env = {"DOCKER_HOST": "unix:///var/run/docker.sock", "OBLAKO_CONTAINER_BACKEND": "docker",
               "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        job = client.containers.run(
            image.id, [sys.executable, "-c", JOB % IMAGE], volumes=volumes, environment=env, detach=True
        )
        try:
            assert job.wait(timeout=120)["StatusCode"] == 0, job.logs().decode()[-3000:]
            seen = json.loads(job.logs(stderr=False).decode().strip().splitlines()[-1])
        finally:
            job.remove(force=True)
        assert seen["listening"].startswith(f"{bridge}, the host's address on the engine's bridge")
        assert seen["answers"]["job-fixed"] == [bridge, 18431, "hello from oblako-test\n"]
        assert seen["warning"].startswith(f"the engine is not on this machine ({bridge}), and ports are published")
        host, port, answer = seen["answers"]["job-random"]
        assert (host, answer) == (bridge, "hello from oblako-test\n") and port != 18431
        assert not client.containers.list(all=True, filters={"name": "job-"})  # stopped and removed by the job
    finally:
        client.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_a_remote_engine_over_tcp_is_reached_at_its_own_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real Docker Engine in a network namespace of the test's own, on an address of its own,
    reached over TCP as DOCKER_HOST=tcp://ADDRESS:2375: no traffic goes anywhere else."""
    from oblako_backends import cli, get_backend

    with own_namespace() as (namespace, host_ip):
        address = host_ip.rsplit(".", 1)[0] + ".2"
        url = f"tcp://{address}:2375"
        directory = Path(tempfile.mkdtemp(prefix="obr-"))  # short: containerd's socket paths must fit 108 bytes
        daemon = _dockerd_in(namespace, url, directory)
        try:
            runtimes.build_test_image(url)
            for var in ("OBLAKO_CONTAINER_BACKEND", "OBLAKO_BIND_ADDRESS", "OBLAKO_HOST_OVERRIDE", "DOCKER_CONTEXT"):
                monkeypatch.delenv(var, raising=False)
            monkeypatch.setenv("DOCKER_HOST", url)

            assert cli.main(["doctor"]) == 0  # loopback publishing on a remote engine: said, not hidden
            assert f"the engine is not on this machine ({address}), and ports are published on its loopback" in (
                capsys.readouterr().out
            )

            monkeypatch.setenv("OBLAKO_BIND_ADDRESS", "0.0.0.0")
            backend = get_backend()
            svc = Service("remote-web", IMAGE, backend=backend, container_name="remote-web", ports={"8080/tcp": None})
            svc.start()
            try:
                svc.wait_ready(timeout=60)  # its check connects where endpoint() says
                host, port = svc.endpoint(8080) or ("", 0)
                assert host == address  # the engine's host, not 127.0.0.1
                assert runtimes.http_get(address, port) == (200, "hello from oblako-test\n")
                monkeypatch.setenv("OBLAKO_HOST_OVERRIDE", "engine.example.test")
                assert svc.endpoint(8080) == ("engine.example.test", port)  # the override wins
            finally:
                svc.stop()
        finally:
            runtimes.stop_pid(daemon)
            shutil.rmtree(directory, ignore_errors=True)


def _dockerd_in(namespace: str, url: str, directory: Path) -> int:
    """A dockerd inside `namespace`, listening on `url` only; its pid once it answers."""
    # nsenter joins the network namespace only; `ip netns exec` would also remount /sys, which
    # hides the cgroup filesystems dockerd needs.
    argv = [
        runtimes.locate("nsenter") or "nsenter", f"--net=/var/run/netns/{namespace}",
        runtimes.locate("dockerd") or "dockerd", "--host", url,
        "--data-root", str(directory / "data"), "--exec-root", str(directory / "exec"),
        "--pidfile", str(directory / "dockerd.pid"), "--exec-opt", "native.cgroupdriver=cgroupfs",
        "--iptables=false", "--ip-masq=false",
    ]  # fmt: skip
    log = directory / "dockerd.log"
    proc = runtimes._spawn(argv, log)
    host, port = url.removeprefix("tcp://").split(":")

    def answers() -> bool:
        try:
            return runtimes.http_get(host, int(port), "/_ping", timeout=1)[0] == 200
        except OSError:
            return False

    runtimes.wait_until(answers, "the remote dockerd", 90, proc, log)
    return proc.pid
