"""The kubernetes backend on a real cluster (see k8s_cluster in the root conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import runtimes
from oblako_backend_kubernetes import forward, manifests
from oblako_backends import (
    ABSENT,
    RUNNING,
    STOPPED,
    Health,
    ImageNotFoundError,
    OblakoBackendError,
    PortInUseError,
    Service,
    get_backend,
)
from oblako_backends.backend import Backend
from oblako_backends.testing import contract

IMAGE = runtimes.TEST_IMAGE


@pytest.fixture
def k8s(k8s_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    monkeypatch.setenv("KUBECONFIG", k8s_cluster.kubeconfig)  # type: ignore[attr-defined]
    monkeypatch.delenv("OBLAKO_K8S_CONTEXT", raising=False)
    backend = get_backend("kubernetes", namespace=k8s_cluster.namespace, state_dir=str(tmp_path / "state"))  # type: ignore[attr-defined]
    yield backend
    for info in backend.list():
        backend.remove(info.name)


def kubectl(backend: Backend, *args: str) -> str:
    argv = backend.plugin.kubectl.argv(*args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout


def _addresses(backend: Backend, service: str) -> list[str]:
    """The addresses the Service `service` resolves to (its Endpoints)."""
    endpoints = json.loads(kubectl(backend, "get", "endpoints", service, "-o", "json"))
    return [a["ip"] for subset in endpoints.get("subsets") or [] for a in subset.get("addresses") or []]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    contract.wait_for(check, what, timeout)


def fetch_ok(port: int) -> bool:
    try:
        return runtimes.http_get("127.0.0.1", port, timeout=2)[0] == 200
    except OSError:
        return False


# Not ServiceNamesContract: this cluster runs no DNS server. Service names are proven by the
# manifests' tests and by test_a_compose_project_runs_on_the_cluster (each name's endpoints).
class TestKubernetesContract(
    contract.ContainerContract,
    contract.ServiceContract,
    contract.RaceContract,
    contract.CompatContract,
    contract.OptionalContract,
    contract.ExecContract,
    contract.OptionsContract,
    contract.NetworksContract,  # network_mode host only: a namespace is one network
):
    @pytest.fixture
    def oblako_backend(self, k8s: Backend) -> Backend:
        return k8s

    @pytest.fixture
    def oblako_test_image(self) -> str:
        return IMAGE

    @pytest.fixture
    def oblako_deadline(self, request: pytest.FixtureRequest) -> float:
        # A test here may schedule and start three pods one after another (about 6 s each on a
        # quiet machine; a CI run once took over 60 s for the volume test's three).
        return max(180.0, float(request.config.getoption("--oblako-deadline")))

    @pytest.fixture
    def oblako_process_env(self, k8s: Backend, tmp_path: Path) -> dict[str, str]:
        return {
            **os.environ,  # KUBECONFIG names the test cluster (the k8s fixture set it)
            "OBLAKO_CONTAINER_BACKEND": "kubernetes",
            "OBLAKO_K8S_NAMESPACE": k8s.plugin.settings.namespace,
            "OBLAKO_K8S_STATE_DIR": str(k8s.plugin.state_dir),
        }

    @pytest.fixture
    def oblako_make_unowned(self, k8s: Backend) -> Iterator[Callable[[str], None]]:
        """A Deployment made with kubectl, without oblako's labels."""
        made: list[str] = []

        def make(name: str) -> None:
            kubectl(k8s, "create", "deployment", name, f"--image={IMAGE}", "--", "sleep", "600")
            made.append(name)
            kubectl(k8s, "wait", "--for=condition=available", f"deployment/{name}", "--timeout=90s")

        yield make
        for name in made:
            kubectl(k8s, "delete", "deployment", name, "--ignore-not-found", "--grace-period=0")


def test_a_named_volume_survives_a_pod_delete_and_a_redeploy(k8s: Backend) -> None:
    volume = f"data-{uuid.uuid4().hex[:6]}"
    command = (
        f"sh -c 'cat /data/marker 2>/dev/null || echo no-marker; echo kept-$$ >> /data/marker; {contract.FOREVER}'"
    )
    svc = Service(
        "db",
        IMAGE,
        backend=k8s,
        container_name=f"db-{uuid.uuid4().hex[:6]}",
        command=command,
        volumes={volume: {"bind": "/data", "mode": "rw"}},
    )
    svc.start()
    wait_for(lambda: "no-marker" in svc.logs(), "the first write")
    workload = manifests.k8s_name(svc.container_name)
    kubectl(k8s, "delete", "pod", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "--wait=false")
    wait_for(lambda: "kept-" in svc.logs() and svc.status().state == RUNNING, "the replacement pod to read the file")
    svc.stop()
    assert svc.status().state == ABSENT
    claims = json.loads(kubectl(k8s, "get", "pvc", "-o", "json"))["items"]
    assert manifests.claim_name(volume) in [c["metadata"]["name"] for c in claims]  # stop keeps the data
    svc.start()
    wait_for(lambda: svc.logs().count("kept-") == 2, "the redeployed pod to read both writes")


@pytest.fixture
def cli_on_k8s(k8s: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's environment pointed at `k8s`'s namespace and state directory."""
    monkeypatch.setenv("OBLAKO_K8S_NAMESPACE", k8s.plugin.settings.namespace)
    monkeypatch.setenv("OBLAKO_K8S_STATE_DIR", str(k8s.plugin.state_dir))


def forwarder_of(backend: Backend, name: str) -> forward.ForwarderState:
    """The forwarder serving `name`'s record (running, and saying so)."""
    status = forward.ForwarderState.load(backend.plugin._forward_file(name).parent)
    assert status is not None and status.running()
    return status


def forwarders(directory: Path) -> list[int]:
    """Every process whose command line names the forward directory `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"oblako_backend_kubernetes" in argv and str(directory).encode() in argv:
                found.append(int(entry.name))
    return found


def test_the_forward_comes_back_after_the_pod_is_replaced(k8s: Backend) -> None:
    svc = Service("web", IMAGE, backend=k8s, container_name=f"web-{uuid.uuid4().hex[:6]}", ports={"8080/tcp": None})
    svc.start()
    host, port = svc.endpoint(8080) or ("", 0)
    assert host == "127.0.0.1" and fetch_ok(port)
    workload = manifests.k8s_name(svc.container_name)
    first = forwarder_of(k8s, svc.container_name).serving[workload].pod
    kubectl(k8s, "delete", "pod", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "--wait=true")
    wait_for(lambda: fetch_ok(port), "the same local port to serve from the new pod")
    now = forwarder_of(k8s, svc.container_name).serving[workload]
    assert now.pod not in ("", first) and now.retargets >= 1


def test_stop_leaves_no_forward_process_and_no_objects(k8s: Backend) -> None:
    svc = Service("web", IMAGE, backend=k8s, container_name=f"web-{uuid.uuid4().hex[:6]}", ports={"8080/tcp": None})
    svc.start()
    state_file = k8s.plugin._forward_file(svc.container_name)
    status = forwarder_of(k8s, svc.container_name)
    _, port = svc.endpoint(8080) or ("", 0)
    svc.stop()
    assert not forward.alive(status.pid) and not state_file.exists()
    assert not fetch_ok(port)
    workload = manifests.k8s_name(svc.container_name)
    left = kubectl(k8s, "get", "deployments,services", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "-o", "name")
    assert left.strip() == ""
    assert forwarders(state_file.parent) == []  # no forwarder left either


def test_another_process_sees_and_stops_the_forward(k8s: Backend, k8s_cluster: object) -> None:
    """After the application is gone, `oblako-backends ps/stop` find the workload and its forward."""
    name = f"web-{uuid.uuid4().hex[:6]}"
    k8s.run(name=name, image=IMAGE, ports={"8080/tcp": None})
    env = {
        **os.environ,
        "OBLAKO_K8S_NAMESPACE": k8s_cluster.namespace,  # type: ignore[attr-defined]
        "OBLAKO_K8S_STATE_DIR": str(k8s.plugin.state_dir),
        "OBLAKO_CONTAINER_BACKEND": "kubernetes",
    }
    ps = [sys.executable, "-m", "oblako_backends", "ps", "--json"]
    listed = subprocess.run(ps, env=env, capture_output=True, text=True, timeout=120, check=True)
    (mine,) = [c for c in json.loads(listed.stdout) if c["name"] == name]
    assert mine["ports"] and mine["ports"][0]["host_ip"] == "127.0.0.1"
    pid = forwarder_of(k8s, name).pid
    subprocess.run(
        [sys.executable, "-m", "oblako_backends", "stop", name], env=env, capture_output=True, timeout=180, check=True
    )
    assert not forward.alive(pid) and k8s.status(name) == ABSENT


def test_a_bad_image_raises_image_not_found_within_the_deadline(k8s: Backend) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    with pytest.raises(ImageNotFoundError, match="minikube image load"):
        k8s.run(name=name, image="localhost/oblako-missing:1")
    assert time.monotonic() - started < k8s.plugin.kubectl.timeout + 30
    assert k8s.status(name) == ABSENT  # nothing left behind


def test_a_start_refused_for_a_held_port_leaves_it_created_and_one_whose_image_fails_leaves_nothing(
    k8s: Backend,
) -> None:
    """A created workload's host port is checked before it is released (it stays Created, no
    pod); the cluster pulls only at the start, so a missing image is told then, and that
    failed start removes it as a failed run does."""
    name, bad = f"held-{uuid.uuid4().hex[:6]}", f"nopull-{uuid.uuid4().hex[:6]}"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        k8s.create(name=name, image=IMAGE, command=["sh", "-c", contract.FOREVER], ports={"8080/tcp": taken})
        with pytest.raises(PortInUseError, match=str(taken)):
            k8s.start(name)
    info = k8s.inspect(name)
    assert info is not None and info.waiting and info.state != RUNNING
    assert (
        kubectl(k8s, "get", "pods", "-l", f"{manifests.WORKLOAD_LABEL}={manifests.k8s_name(name)}", "-o", "name") == ""
    )
    k8s.create(name=bad, image="localhost/oblako-missing:1")  # no pod yet: nothing pulled
    with pytest.raises(ImageNotFoundError, match="minikube image load"):
        k8s.start(bad)
    assert k8s.status(bad) == ABSENT


def test_of_two_starts_at_once_one_releases_it_and_the_other_is_told_and_removes_nothing(
    k8s: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two backends (two `start` commands) both read the workload held before either releases
    it (each waits for the other after its port check): the cluster takes one release, the
    other start is told so, and the workload stays and serves."""
    name = f"twice-{uuid.uuid4().hex[:6]}"
    port = runtimes.free_port()
    k8s.create(name=name, image=IMAGE, command=["sh", "-c", contract.SERVE], ports={"8080/tcp": port})
    other = get_backend("kubernetes", namespace=k8s.plugin.settings.namespace, state_dir=str(k8s.plugin.state_dir))
    both_read = threading.Barrier(2, timeout=60)
    for backend in (k8s, other):
        check = backend.plugin._host_ports

        def checked_then_wait(
            name: str, ports: list[tuple[str | None, int | None, int]], check: Callable[..., list[list[object]]] = check
        ) -> list[list[object]]:
            mappings = check(name, ports)
            both_read.wait()
            return mappings

        monkeypatch.setattr(backend.plugin, "_host_ports", checked_then_wait)
    failed: list[BaseException] = []

    def start(backend: Backend) -> None:
        try:
            backend.start(name)
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=start, args=(b,)) for b in (k8s, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert [type(e) for e in failed] == [OblakoBackendError], failed
    assert f"can't start {name!r}" in str(failed[0]) and "another start released it first" in str(failed[0])
    info = k8s.inspect(name)
    assert info is not None and info.state == RUNNING and not info.waiting
    assert fetch_ok(port)


def test_a_port_taken_between_its_check_and_the_forward_leaves_it_created_and_it_starts_once_free(
    k8s: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host port is free when `start` checks it and taken (by another process) once the pod
    runs: the start fails with the port, the workload is held again (Created, no pod), and
    starts and serves once the port is free."""
    name = f"taken-{uuid.uuid4().hex[:6]}"
    port = runtimes.free_port()
    k8s.create(name=name, image=IMAGE, command=["sh", "-c", contract.SERVE], ports={"8080/tcp": port})
    holder = socket.socket()
    wait = k8s.plugin._wait_available
    taken: list[int] = []

    def waited_then_taken(container: str, image: str) -> bool:
        running = wait(container, image)
        if not taken:  # the first start only
            holder.bind(("127.0.0.1", port))
            holder.listen()
            taken.append(port)
        return running

    monkeypatch.setattr(k8s.plugin, "_wait_available", waited_then_taken)
    with holder:
        with pytest.raises(PortInUseError, match=f"{port}.*left created"):
            k8s.start(name)
        assert taken == [port]
    pods = ["get", "pods", "-l", f"{manifests.WORKLOAD_LABEL}={manifests.k8s_name(name)}", "-o", "name"]
    wait_for(lambda: kubectl(k8s, *pods).strip() == "", "its pod to end")
    info = k8s.inspect(name)
    assert info is not None and info.waiting and info.state != RUNNING
    k8s.start(name)
    assert fetch_ok(port)


def test_a_crash_loop_raises_with_the_last_log_lines(k8s: Backend) -> None:
    name = f"crash-{uuid.uuid4().hex[:6]}"
    with pytest.raises(OblakoBackendError, match="keeps failing") as raised:
        k8s.run(name=name, image=IMAGE, command=["sh", "-c", "echo 'boom: /etc/app.conf missing'; exit 3"])
    assert "boom: /etc/app.conf missing" in str(raised.value)
    assert k8s.status(name) == ABSENT


def test_a_killed_forwarder_is_noticed_and_started_again(k8s: Backend) -> None:
    svc = Service("web", IMAGE, backend=k8s, container_name=f"web-{uuid.uuid4().hex[:6]}", ports={"8080/tcp": None})
    svc.start()
    _, port = svc.endpoint(8080) or ("", 0)
    killed = forwarder_of(k8s, svc.container_name)
    os.kill(killed.pid, 9)
    wait_for(lambda: not forward.alive(killed.pid), "the forwarder to die")
    assert not fetch_ok(port)
    assert svc.status().state == RUNNING  # the next status notices, and starts another
    wait_for(lambda: fetch_ok(port), "the forward to serve again on the same port")
    healed = forwarder_of(k8s, svc.container_name)
    assert healed.pid != killed.pid
    svc.stop()
    assert not forward.alive(healed.pid)


def test_a_workload_deleted_outside_oblako_loses_its_record_and_its_forwarder(k8s: Backend) -> None:
    svc = Service("web", IMAGE, backend=k8s, container_name=f"web-{uuid.uuid4().hex[:6]}", ports={"8080/tcp": None})
    svc.start()
    state_file = k8s.plugin._forward_file(svc.container_name)
    status = forwarder_of(k8s, svc.container_name)
    workload = manifests.k8s_name(svc.container_name)
    kubectl(k8s, "delete", f"deployment/{workload}", f"service/{workload}", "--wait=true")
    wait_for(lambda: not status.running() and not state_file.exists(), "the record to go, and its forwarder with it")
    assert svc.status().state == ABSENT


def test_symlinks_planted_in_the_state_directory_write_nothing_through(k8s: Backend, tmp_path: Path) -> None:
    name = f"web-{uuid.uuid4().hex[:6]}"
    state_file = k8s.plugin._forward_file(name)
    forward.safe_directory(state_file.parent, depth=3)
    victims = [tmp_path / "victim-tmp", tmp_path / "victim-log", tmp_path / "victim-status"]
    for victim in victims:
        victim.write_text("precious\n")
    state_file.with_suffix(".tmp").symlink_to(victims[0])
    (state_file.parent / forward.LOG).symlink_to(victims[1])
    (state_file.parent / "_forwarder.tmp").symlink_to(victims[2])
    svc = Service("web", IMAGE, backend=k8s, container_name=name, ports={"8080/tcp": None})
    svc.start()
    _, port = svc.endpoint(8080) or ("", 0)
    assert fetch_ok(port)
    assert [v.read_text() for v in victims] == ["precious\n"] * 3
    svc.stop()


def test_following_logs_while_the_api_server_is_frozen_ends_with_an_error(
    k8s: Backend, k8s_cluster: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oblako_backends import RuntimeUnavailableError

    apiserver = k8s_cluster.apiserver_pid  # type: ignore[attr-defined]
    assert apiserver > 0, "set OBLAKO_TEST_K8S_APISERVER_PIDFILE (.ci/run does) to freeze the API server"
    monkeypatch.setenv("OBLAKO_TIMEOUT", "6")
    quick = get_backend("kubernetes", namespace=k8s.plugin.settings.namespace, state_dir=str(k8s.plugin.state_dir))
    name = f"quiet-{uuid.uuid4().hex[:6]}"
    k8s.run(name=name, image=IMAGE, command=["sh", "-c", f"echo only-line; {contract.FOREVER}"])
    stream = quick.follow_logs(name, tail=10)
    assert next(stream) == "only-line"
    os.kill(apiserver, signal.SIGSTOP)
    try:
        outcome = contract.read_rest(stream, timeout=7)  # OBLAKO_TIMEOUT, and a second to spare
    finally:
        os.kill(apiserver, signal.SIGCONT)
    assert isinstance(outcome, RuntimeUnavailableError), outcome or "still blocked"


def test_host_binds_reach_the_pod_as_a_secret_and_a_claim(k8s: Backend, tmp_path: Path) -> None:
    """oblako's services bind host paths; the cluster gets the file's content (a Secret) and a claim."""
    conf = tmp_path / "app.conf"
    conf.write_text("greeting=from-a-secret\n")
    data = tmp_path / "rw"
    data.mkdir()
    name = f"cfg-{uuid.uuid4().hex[:6]}"
    keep = "cat /data/kept 2>/dev/null || echo no-data; echo kept > /data/kept"
    command = f"sh -c 'cat /etc/app.conf; {keep}; {contract.FOREVER}'"
    svc = Service(
        "cfg", IMAGE, backend=k8s, container_name=name, command=command,
        volumes={str(conf): {"bind": "/etc/app.conf", "mode": "ro"}, str(data): {"bind": "/data", "mode": "rw"}},
    )  # fmt: skip
    with pytest.warns(UserWarning, match="lives in the cluster"):
        svc.start()
    wait_for(lambda: "no-data" in svc.logs(), "the first pod's lines")
    assert svc.logs().splitlines()[:2] == ["greeting=from-a-secret", "no-data"]
    workload = manifests.k8s_name(name)
    kubectl(k8s, "delete", "pod", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "--wait=false")
    wait_for(lambda: svc.logs().splitlines()[1:2] == ["kept"], "the replacement pod to find the data")
    secrets = kubectl(k8s, "get", "secrets", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "-o", "name")
    assert secrets.strip().startswith("secret/")  # while it runs, the file is in a Secret
    svc.stop()
    left = kubectl(k8s, "get", "configmaps,secrets", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "-o", "name")
    assert left.strip() == ""


COMPOSE = """
services:
  db:
    image: {image}
    volumes: ["data:/data"]
    command: ["sh", "-c", "echo db-ready; touch /tmp/up; trap 'exit 0' TERM; sleep 600 & wait"]
    healthcheck: {{test: [CMD, test, -e, /tmp/up], interval: 1s}}
  web:
    image: {image}
    depends_on: {{db: {{condition: service_healthy}}}}
    ports: ["{port}:8080"]
    environment: ["GREETING=hello from compose"]
    volumes: ["./site:/site:ro"]
    command: ["sh", "-c", "echo \\"$$GREETING\\"; trap 'exit 0' TERM; httpd -f -p 8080 -h /site & wait"]
volumes:
  data: {{}}
"""


@pytest.mark.usefixtures("cli_on_k8s")
def test_a_compose_project_runs_on_the_cluster(
    k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends.cli import main as cli

    project = f"shop{uuid.uuid4().hex[:6]}"
    port = runtimes.free_port()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("served from a secret\n")
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE.format(image=IMAGE, port=port))
    try:
        assert cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0, capsys.readouterr().err
        assert runtimes.http_get("127.0.0.1", port) == (200, "served from a secret\n")
        capsys.readouterr()
        wait_for(lambda: "hello from compose" in k8s.logs(f"{project}-web-1"), "web's greeting")
        assert cli(["logs", "--backend", "kubernetes", "--project", project]) == 0
        assert capsys.readouterr().out.splitlines() == ["db  | db-ready", "web | hello from compose"]
        assert cli(["ps", "--backend", "kubernetes", "--project", project, "--json"]) == 0
        assert sorted(c["service"] for c in json.loads(capsys.readouterr().out)) == ["db", "web"]
        db = k8s.inspect(f"{project}-db-1")
        assert db is not None and db.health == Health.HEALTHY  # its exec readiness probe passes
        # Each service answers to its name: a headless Service whose endpoints are its pod, the
        # records the cluster's DNS serves (this test cluster runs no DNS server to ask).
        pods = json.loads(kubectl(k8s, "get", "pods", "-l", f"oblako.project={project}", "-o", "json"))["items"]
        pod_ips = {p["metadata"]["labels"][manifests.WORKLOAD_LABEL]: p["status"]["podIP"] for p in pods}
        for service in ("db", "web"):
            expected = [pod_ips[f"{project}-{service}-1"]]
            wait_for(lambda s=service, e=expected: _addresses(k8s, s) == e, f"{service}'s address")  # type: ignore[misc]
    finally:
        assert cli(["down", "-v", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0
    assert k8s.status(f"{project}-web-1") == ABSENT and k8s.status(f"{project}-db-1") == ABSENT
    assert capsys.readouterr().out.splitlines()[-1] == f"removed volume {project}_data"
    claims = json.loads(kubectl(k8s, "get", "pvc", "-o", "json"))["items"]
    assert manifests.claim_name(f"{project}_data") not in [c["metadata"]["name"] for c in claims]
    assert kubectl(k8s, "get", "services", "-l", f"oblako.project={project}", "-o", "name").strip() == ""


@pytest.mark.usefixtures("cli_on_k8s")
def test_replicas_are_deployments_of_their_own_and_the_service_name_selects_them_all(
    k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`scale: 2` runs `<project>-api-1` and `-2`, one Deployment each; the name `api` is one
    headless Service whose endpoints are both pods (made once, no warning for the second)."""
    from oblako_backends.cli import main as cli

    project = f"scale{uuid.uuid4().hex[:6]}"
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  api:\n    image: {IMAGE}\n    scale: 2\n")
    try:
        assert cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0
        assert "already taken" not in capsys.readouterr().err
        assert sorted(c.name for c in k8s.list() if c.project == project) == [f"{project}-api-1", f"{project}-api-2"]
        pods = json.loads(kubectl(k8s, "get", "pods", "-l", f"oblako.project={project}", "-o", "json"))["items"]
        expected = sorted(p["status"]["podIP"] for p in pods)
        assert len(expected) == 2
        wait_for(lambda: sorted(_addresses(k8s, "api")) == expected, "both replicas behind the name")
    finally:
        assert cli(["down", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0
    assert [c.name for c in k8s.list() if c.project == project] == []


def test_doctor_finishes_the_sentence_when_the_cluster_cannot_be_reached(
    k8s_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """kubectl is here (the cluster tests need it), but no kubeconfig, then one naming a dead server."""
    from oblako_backends.cli import main as cli

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("OBLAKO_K8S_CONTEXT", raising=False)
    assert cli(["doctor", "--backend", "kubernetes"]) == 1
    assert "error:        no kubeconfig found (KUBECONFIG unset, ~/.kube/config missing)" in capsys.readouterr().out
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    assert cli(["doctor", "--backend", "kubernetes"]) == 1
    assert f"no kubeconfig found (KUBECONFIG={tmp_path / 'absent'} names no file)" in capsys.readouterr().out
    port = runtimes.free_port()  # nothing listens there
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(dead))
    assert cli(["doctor", "--backend", "kubernetes"]) == 1
    assert f"error:        the server https://127.0.0.1:{port} did not answer kubectl (" in capsys.readouterr().out


STARTS = 12  # oblako's `up` starts this many services at once (issue 23)


@pytest.fixture
def fresh_namespace(k8s_cluster: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A namespace nobody has made yet (deleted afterwards, with all in it, without waiting for
    its pods to end: nothing else uses it), KUBECONFIG set."""
    monkeypatch.setenv("KUBECONFIG", k8s_cluster.kubeconfig)  # type: ignore[attr-defined]
    monkeypatch.delenv("OBLAKO_K8S_CONTEXT", raising=False)
    monkeypatch.setenv("OBLAKO_TIMEOUT", "180")  # twelve pods scheduled at once on one slow node
    name = f"{k8s_cluster.namespace}-n{uuid.uuid4().hex[:6]}"  # type: ignore[attr-defined]
    argv = ["kubectl", f"--kubeconfig={k8s_cluster.kubeconfig}", "--request-timeout=60s"]  # type: ignore[attr-defined]
    absent = subprocess.run([*argv, "get", "namespace", name], capture_output=True, text=True, timeout=120)
    assert absent.returncode != 0 and "NotFound" in absent.stderr
    try:
        yield name
    finally:
        subprocess.run(
            [*argv, "delete", "namespace", name, "--ignore-not-found", "--wait=false"],
            capture_output=True,
            timeout=180,
            check=False,
        )


def test_a_project_of_twelve_services_starts_together_in_a_namespace_that_does_not_exist_yet(
    fresh_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """All twelve find the namespace missing and create it at once; the losers use it (no
    AlreadyExists ends `up`), and each one's host file reaches its pod through a Secret."""
    from oblako_backends.cli import main as cli

    monkeypatch.setenv("OBLAKO_K8S_NAMESPACE", fresh_namespace)
    monkeypatch.setenv("OBLAKO_K8S_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OBLAKO_JOBS", str(STARTS))
    project = f"many{uuid.uuid4().hex[:6]}"
    (tmp_path / "app.conf").write_text("from-a-secret\n")
    service = (
        "  s{i}:\n    image: {image}\n    volumes: ['./app.conf:/etc/app.conf:ro']\n"
        "    command: ['sh', '-c', 'cat /etc/app.conf; trap \"exit 0\" TERM; sleep 600 & wait']\n"
    )
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n" + "".join(service.format(i=i, image=IMAGE) for i in range(STARTS)))
    backend = get_backend("kubernetes", namespace=fresh_namespace, state_dir=str(tmp_path / "state"))
    try:
        code = cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project])
        err = capsys.readouterr().err
        assert code == 0, err
        assert "alreadyexists" not in err.replace(" ", "").lower()
        running = [c for c in backend.list() if c.project == project]
        assert sorted(c.name for c in running) == sorted(f"{project}-s{i}-1" for i in range(STARTS))
        assert all(c.state == RUNNING for c in running), running
        for i in range(STARTS):
            wait_for(lambda i=i: "from-a-secret" in backend.logs(f"{project}-s{i}-1"), f"s{i}'s file")  # type: ignore[misc]
        secrets = kubectl(backend, "get", "secrets", "-l", "oblako.backend=kubernetes", "-o", "name").split()
        assert len(secrets) == STARTS  # one per workload: its own file's content
    finally:
        assert cli(["down", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0
    assert [c for c in backend.list() if c.project == project] == []
    assert kubectl(backend, "get", "secrets", "-l", "oblako.backend=kubernetes", "-o", "name").strip() == ""


HTTP_SERVICE = """  s{i}:
    image: {image}
    ports: ["{port}:8080"]
    command: ["sh", "-c", "mkdir /tmp/www && echo s{i} > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"]
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.usefixtures("cli_on_k8s")
def test_one_forwarder_process_serves_a_whole_project_and_down_leaves_none(
    k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three services publishing ports: one host process forwards all three (where kubectl
    took two per service), a replaced pod's port serves again, and `down` ends the process."""
    from oblako_backends.cli import main as cli

    project = f"fw{uuid.uuid4().hex[:6]}"
    ports = [runtimes.free_port() for _ in range(3)]
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n" + "".join(HTTP_SERVICE.format(i=i, image=IMAGE, port=p) for i, p in enumerate(ports)))
    directory = k8s.plugin._forward_file("any").parent
    try:
        assert cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0, capsys.readouterr().err
        for i, port in enumerate(ports):
            assert runtimes.http_get("127.0.0.1", port) == (200, f"s{i}\n")
        status = forwarder_of(k8s, f"{project}-s0-1")
        assert forwarders(directory) == [status.pid]  # one process, serving all three
        assert sorted(status.serving) == sorted(manifests.k8s_name(f"{project}-s{i}-1") for i in range(3))
        assert rss_mib(status.pid) <= 100
        workload = manifests.k8s_name(f"{project}-s1-1")
        kubectl(k8s, "delete", "pod", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "--wait=true")
        wait_for(lambda: fetch_ok(ports[1]), "s1's port to serve from its new pod")
        assert fetch_ok(ports[0]) and fetch_ok(ports[2]) and forwarders(directory) == [status.pid]
    finally:
        assert cli(["down", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0
    assert forwarders(directory) == [] and not any(fetch_ok(p) for p in ports)
    assert [p.name for p in directory.iterdir() if p.name != forward.LOCK] == []


# A one-off that must complete before what waits for it (restart "no": a Job).
WITH_A_MIGRATION = """
services:
  migrate:
    image: {image}
    restart: "no"
    command: ["sh", "-c", "echo migrated"]
"""
COMPOSE_NO_START = (
    WITH_A_MIGRATION
    + """  web:
    image: {image}
    ports: ["{port}:8080"]
    depends_on: {{migrate: {{condition: service_completed_successfully}}}}
    command: ["sh", "-c", "mkdir /tmp/www && echo web > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"]
"""
)


@pytest.mark.usefixtures("cli_on_k8s")
def test_up_no_start_makes_everything_but_runs_no_pod_and_start_runs_and_serves_it(
    k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`up --no-start`: a Deployment of no replicas and a Job of no parallel pods, shown as
    Created, no pod and no port served; `down` removes them unstarted. Made again, `start`
    runs the Job to its end, then the web server, whose published port serves; `down` leaves
    no object, pod or forwarder."""
    from oblako_backends.cli import main as cli

    project = f"nost{uuid.uuid4().hex[:6]}"
    port = runtimes.free_port()
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE_NO_START.format(image=IMAGE, port=port))
    web, migrate = f"{project}-web-1", f"{project}-migrate-1"
    directory = k8s.plugin._forward_file("any").parent
    mine = ["-l", f"oblako.project={project}", "-o", "name"]
    args = ["--backend", "kubernetes", "-f", str(path), "-p", project]

    def created() -> None:
        assert cli(["up", "--no-start", *args]) == 0, capsys.readouterr().err
        capsys.readouterr()
        assert cli(["ps", "-a", "--backend", "kubernetes", "--project", project, "--format", "json"]) == 0
        shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert sorted((c["Service"], c["State"], c["Status"]) for c in shown) == [
            ("migrate", "created", "Created"),
            ("web", "created", "Created"),
        ]
        assert k8s.status(web) == k8s.status(migrate) == STOPPED  # neither running nor missing
        made = kubectl(k8s, "get", "deployments,jobs", *mine).split()
        assert sorted(made) == sorted([f"deployment.apps/{web}", f"job.batch/{migrate}"])
        assert kubectl(k8s, "get", "pods", *mine).strip() == ""  # nothing runs
        assert not fetch_ok(port) and forwarders(directory) == []  # nothing is served

    try:
        created()
        assert cli(["down", *args]) == 0  # never started: removed all the same
        assert kubectl(k8s, "get", "deployments,jobs,services", *mine).strip() == ""
        created()
        assert cli(["up", "--no-start", *args]) == 0  # again: the same ones, kept as they are
        assert kubectl(k8s, "get", "pods", *mine).strip() == ""
        assert cli(["start", *args]) == 0, capsys.readouterr().err
        assert runtimes.http_get("127.0.0.1", port) == (200, "web\n")
        ended = k8s.inspect(migrate)
        assert ended is not None and ended.state != RUNNING and ended.exit_code == 0 and not ended.waiting
        assert k8s.logs(migrate) == "migrated\n"
        with pytest.raises(OblakoBackendError, match="runs only once"):
            k8s.start(migrate)  # a Job that has ended cannot run again: `up` replaces it
        running = k8s.inspect(web)
        assert running is not None and running.state == RUNNING and not running.waiting
        assert [(p.host_port, p.container_port) for p in running.ports] == [(port, 8080)]
    finally:
        assert cli(["down", *args]) == 0
    assert kubectl(k8s, "get", "deployments,jobs,services", *mine).strip() == ""
    assert forwarders(directory) == [] and not fetch_ok(port)
    wait_for(lambda: kubectl(k8s, "get", "pods", *mine).strip() == "", "the web pod to end")


def test_twelve_runs_from_separate_backends_converge_on_one_new_namespace_and_one_claim(
    fresh_namespace: str, tmp_path: Path
) -> None:
    """Twelve threads, each with its own backend object (as twelve processes would be), run
    twelve workloads at once into a namespace that does not exist, all mounting one named
    volume: one namespace, one claim, twelve running workloads, no failure."""
    import threading

    volume = f"shared-{uuid.uuid4().hex[:6]}"
    backends = [
        get_backend("kubernetes", namespace=fresh_namespace, state_dir=str(tmp_path / "state")) for _ in range(STARTS)
    ]
    names = [f"many-{i}-{uuid.uuid4().hex[:6]}" for i in range(STARTS)]
    gate = threading.Barrier(STARTS)
    errors: list[BaseException] = []

    def run(backend: Backend, name: str) -> None:
        gate.wait()
        try:
            backend.run(
                name=name,
                image=IMAGE,
                command=["sh", "-c", f"echo {name} >> /data/names; {contract.FOREVER}"],
                volumes={volume: {"bind": "/data", "mode": "rw"}},
            )
        except BaseException as exc:  # every failure is collected and shown
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(backends, names, strict=True)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert all(backends[0].status(name) == RUNNING for name in names)
        claims = json.loads(kubectl(backends[0], "get", "pvc", "-o", "json"))["items"]
        assert [c["metadata"]["name"] for c in claims] == [manifests.claim_name(volume)]
    finally:
        for name in names:
            backends[0].remove(name)
        kubectl(backends[0], "delete", f"pvc/{manifests.claim_name(volume)}", "--ignore-not-found", "--wait=false")


# The main process says what it was given (caps, no_new_privs, a terminal), keeps its pid where
# exec finds it, and, once told (/scratch/done, which survives its restarts), exits with 5.
OPTIONS_MAIN = (
    "[ -e /scratch/done ] && exit 5; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; "
    "[ -t 1 ] && echo stdout-is-a-terminal; echo $$ > /scratch/pid; "
    "trap 'exit 5' TERM; sleep 600 & wait"
)


def test_compose_options_take_effect_in_the_pod_as_seen_from_inside(k8s: Backend) -> None:
    """One workload with most of Compose's options; each effect checked from inside it (exec)."""
    from oblako_backends import STOPPED, ContainerSpec
    from oblako_backends.options import FileSpec

    name = f"opts-{uuid.uuid4().hex[:6]}"
    node = json.loads(kubectl(k8s, "get", "nodes", "-o", "json"))["items"][0]["metadata"]["labels"]
    spec = ContainerSpec(
        name=name,
        image=IMAGE,
        command=["sh", "-c", OPTIONS_MAIN],
        stop_grace_period=7.5,
        tmpfs={"/scratch": "size=8m"},
        files=[FileSpec("/run/secrets/token", b"s3cret-value\n", 0o400), FileSpec("/etc/app.conf", b"a=1\n")],
        cap_drop=["ALL"],
        cap_add=["NET_BIND_SERVICE"],
        security_opt=["no-new-privileges", "apparmor=unconfined"],  # unconfined: also where no AppArmor is
        read_only=True,
        dns=["10.254.254.53"],
        dns_search=["corp.example"],
        stdin_open=True,
        tty=True,
        init=True,
        sysctls={"net.ipv4.ip_local_port_range": "20000 30000"},
        expose=["9090"],
        platform=f"{node['kubernetes.io/os']}/{node['kubernetes.io/arch']}",
    )
    with pytest.warns(UserWarning, match="dnsPolicy None"):
        k8s.run(spec)

    def inside(*command: str) -> tuple[int, str]:
        out: list[bytes] = []
        code = k8s.exec(name, command, output=out.append, timeout=60)
        return code, b"".join(out).decode()

    wait_for(lambda: "NoNewPrivs" in k8s.logs(name), "the main process's first lines")
    said = k8s.logs(name)
    assert "CapEff:\t0000000000000400" in said  # cap_drop ALL, cap_add NET_BIND_SERVICE (bit 10)
    assert "NoNewPrivs:\t1" in said and "stdout-is-a-terminal" in said  # no-new-privileges, tty
    assert inside("sh", "-c", "grep CapEff /proc/self/status") == (0, "CapEff:\t0000000000000400\n")
    # read_only: the root refuses a write; the tmpfs takes it
    assert inside("touch", "/probe")[0] != 0
    assert inside("touch", "/scratch/probe") == (0, "")
    assert any(line.split()[1:3] == ["/scratch", "tmpfs"] for line in inside("cat", "/proc/mounts")[1].splitlines())
    # files: content and mode, read-only
    assert inside("cat", "/run/secrets/token") == (0, "s3cret-value\n")
    assert inside("stat", "-L", "-c", "%a", "/run/secrets/token", "/etc/app.conf") == (0, "400\n444\n")
    assert inside("sh", "-c", "echo x > /etc/app.conf")[0] != 0
    # dns, sysctls, init
    resolv = inside("cat", "/etc/resolv.conf")[1].splitlines()
    assert "nameserver 10.254.254.53" in resolv and "search corp.example" in resolv
    assert inside("cat", "/proc/sys/net/ipv4/ip_local_port_range")[1].split() == ["20000", "30000"]
    assert inside("cat", "/proc/1/cmdline")[1].startswith("/pause")  # the pod's init reaps orphans
    # stop_grace_period, expose, platform: in the objects the cluster holds
    workload = manifests.k8s_name(name)
    deployment = json.loads(kubectl(k8s, "get", f"deployment/{workload}", "-o", "json"))
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 8
    service = json.loads(kubectl(k8s, "get", f"service/{workload}", "-o", "json"))
    assert [p["port"] for p in service["spec"]["ports"]] == [9090]
    endpoints = json.loads(kubectl(k8s, "get", "endpoints", workload, "-o", "json"))
    assert [p["port"] for s in endpoints["subsets"] for p in s["ports"]] == [9090]  # what the name reaches
    # the main process ends with 5: a stopped workload tells how
    assert inside("sh", "-c", "touch /scratch/done; kill $(cat /scratch/pid)") == (0, "")

    def stopped_with() -> int | None:
        info = k8s.inspect(name)
        return info.exit_code if info is not None and info.state == STOPPED else None

    wait_for(lambda: stopped_with() == 5, "the workload to stop, telling its exit code")
    k8s.remove(name)
    left = kubectl(k8s, "get", "secrets", "-l", f"{manifests.WORKLOAD_LABEL}={workload}", "-o", "name")
    assert left.strip() == ""  # the files' Secret goes with the workload


def test_exec_passes_output_exit_code_environment_and_working_dir_and_keeps_its_deadline(k8s: Backend) -> None:
    from oblako_backends import RuntimeUnavailableError

    name = f"exec-{uuid.uuid4().hex[:6]}"
    k8s.run(name=name, image=IMAGE, command=["sh", "-c", contract.FOREVER], working_dir="/tmp")
    out: list[bytes] = []
    code = k8s.exec(name, ["sh", "-c", "echo out; echo err >&2; exit 3"], output=out.append)
    assert code == 3 and sorted(b"".join(out).splitlines()) == [b"err", b"out"]  # kubectl's own line left out
    out.clear()
    secret = 'it\'s a "secret" $(id)\nline two'
    command = ["sh", "-c", 'printf "%s|" "$TOKEN" "$(pwd)" "$1"', "sh", "$(touch /tmp/pwned)"]
    assert k8s.exec(name, command, environment={"TOKEN": secret}, working_dir="/etc", output=out.append) == 0
    assert b"".join(out).decode() == f"{secret}|/etc|$(touch /tmp/pwned)|"
    assert k8s.exec(name, ["test", "-e", "/tmp/pwned"]) == 1  # the argv was never read by a shell
    assert k8s.exec(name, ["pwd"], working_dir="/nonexistent") == 126
    with pytest.raises(OblakoBackendError, match="container's own user"):
        k8s.exec(name, ["id"], user="1000")
    started = time.monotonic()
    with pytest.raises(RuntimeUnavailableError, match="did not finish within 2 s"):
        k8s.exec(name, ["sleep", "60"], timeout=2)
    assert time.monotonic() - started < 15


def test_a_sysctl_the_node_refuses_ends_the_start_with_the_nodes_reason(k8s: Backend) -> None:
    """tcp_keepalive_time is safe from Kubernetes 1.29 on; this cluster's kubelet (1.20) refuses it."""
    name = f"sysctl-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    with pytest.raises(OblakoBackendError, match="its pod was refused .SysctlForbidden"):
        k8s.run(name=name, image=IMAGE, command=["sleep", "600"], sysctls={"net.ipv4.tcp_keepalive_time": "600"})
    assert time.monotonic() - started < k8s.plugin.kubectl.timeout
    assert k8s.status(name) == ABSENT


COMPOSE_OPTIONS = """
services:
  web:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    cap_drop: [ALL]
    read_only: true
    stop_grace_period: 5s
    expose: ["9000"]
    hostname: web-host
    restart: on-failure
"""


@pytest.mark.usefixtures("cli_on_k8s")
def test_compose_options_reach_the_pod_and_those_without_a_counterpart_are_said_and_left_out(
    k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends.cli import main as cli

    project = f"opts{uuid.uuid4().hex[:6]}"
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE_OPTIONS.format(image=IMAGE))
    try:
        assert cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0
        err = capsys.readouterr().err
        assert "web: hostname: kubernetes cannot apply it (capability 'hostname')" in err
        assert "web: restart:" not in err  # on-failure: a Job whose pod restarts when it fails
        name = f"{project}-web-1"
        out: list[bytes] = []
        assert k8s.exec(name, ["grep", "CapEff", "/proc/self/status"], output=out.append) == 0
        assert b"".join(out) == b"CapEff:\t0000000000000000\n"
        assert k8s.exec(name, ["touch", "/probe"]) != 0
        out.clear()
        assert k8s.exec(name, ["hostname"], output=out.append) == 0
        assert b"".join(out).strip() != b"web-host"  # left out, as up said
        workload = manifests.k8s_name(name)
        job = json.loads(kubectl(k8s, "get", f"job/{workload}", "-o", "json"))
        assert job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 5
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
        service = json.loads(kubectl(k8s, "get", f"service/{workload}", "-o", "json"))
        assert [p["port"] for p in service["spec"]["ports"]] == [9000]
    finally:
        assert cli(["down", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0


def _ended(k8s: Backend, name: str) -> bool:
    info = k8s.inspect(name)
    return info is not None and info.state != RUNNING


def _pods_of(k8s: Backend, name: str) -> list[dict]:  # type: ignore[type-arg]
    selector = f"{manifests.WORKLOAD_LABEL}={manifests.k8s_name(name)}"
    return list(json.loads(kubectl(k8s, "get", "pods", "-l", selector, "-o", "json"))["items"])


def test_restart_no_runs_once_and_keeps_its_exit_code_and_output_until_removed(k8s: Backend) -> None:
    name = f"once-{uuid.uuid4().hex[:6]}"
    k8s.run(name=name, image=IMAGE, command=["sh", "-c", "echo ran; exit 3"], restart="no")
    wait_for(lambda: _ended(k8s, name), "the run to end")
    info = k8s.inspect(name)
    assert info is not None and info.exit_code == 3 and info.owned
    assert k8s.logs(name) == "ran\n"
    job = json.loads(kubectl(k8s, "get", f"job/{manifests.k8s_name(name)}", "-o", "json"))
    assert job["status"].get("failed") == 1 and not job["status"].get("active")  # and no retry is coming
    (pod,) = _pods_of(k8s, name)  # never restarted: one pod, its container started once
    assert [s["restartCount"] for s in pod["status"]["containerStatuses"]] == [0]
    assert [i.name for i in k8s.list() if i.name == name] == [name]  # ps lists it, ended
    k8s.remove(name)
    assert k8s.status(name) == ABSENT and _pods_of(k8s, name) == []  # its pods went with it


def test_restart_no_with_a_port_runs_until_it_ends_and_is_reached_and_exec_works_meanwhile(k8s: Backend) -> None:
    """A Job that serves: `run` returns once its port answers, exec runs in its pod, and stop
    ends it with its pod."""
    name = f"serve-{uuid.uuid4().hex[:6]}"
    k8s.run(name=name, image=IMAGE, command=["sh", "-c", contract.SERVE], ports={"8080/tcp": None}, restart="no")
    info = k8s.inspect(name)
    assert info is not None and info.state == RUNNING and info.exit_code is None
    (port,) = info.ports
    assert fetch_ok(port.host_port)
    out: list[bytes] = []
    assert k8s.exec(name, ["cat", "/tmp/www/index.html"], output=out.append) == 0
    assert b"".join(out) == b"contract-ok\n"
    k8s.stop(name, timeout=5)
    assert k8s.status(name) == ABSENT and _pods_of(k8s, name) == []


def test_stopping_a_job_keeps_the_timeout_given_not_its_pods_own_grace_period(k8s: Backend) -> None:
    """A Job's pods ignore the grace given with the Job's deletion (they stop with their own):
    `stop(timeout=1)` of one whose command ignores SIGTERM and whose grace period is 300 s
    must still end it well inside that."""
    import threading

    name = f"stubborn-{uuid.uuid4().hex[:6]}"
    stubborn = "trap '' TERM; while true; do sleep 1; done"
    k8s.run(name=name, image=IMAGE, command=["sh", "-c", stubborn], restart="no", stop_grace_period=300)
    wait_for(lambda: k8s.status(name) == RUNNING, "the Job's pod to run")
    stopped = threading.Event()
    worker = threading.Thread(target=lambda: (k8s.stop(name, timeout=1), stopped.set()), daemon=True)
    worker.start()
    worker.join(120)
    assert stopped.is_set(), "stop waited for the pod's own 300 s grace period"
    assert k8s.status(name) == ABSENT and _pods_of(k8s, name) == []


def test_on_failure_with_a_count_retries_in_new_pods_then_stops_with_the_last_exit_code(k8s: Backend) -> None:
    name = f"retry-{uuid.uuid4().hex[:6]}"
    k8s.run(name=name, image=IMAGE, command=["sh", "-c", "echo try; exit 4"], restart="on-failure:2")
    wait_for(lambda: _ended(k8s, name), "the last retry to end", 180)
    info = k8s.inspect(name)
    assert info is not None and info.exit_code == 4
    assert k8s.logs(name) == "try\n" * 3  # the first run and two retries, oldest first
    assert k8s.logs(name, tail=1) == "try\n"
    pods = _pods_of(k8s, name)
    assert len(pods) == 3 and all(p["status"]["phase"] == "Failed" for p in pods)
    job = json.loads(kubectl(k8s, "get", f"job/{manifests.k8s_name(name)}", "-o", "json"))
    assert not job["status"].get("active")  # stopped: no fourth run is coming
    k8s.remove(name)
    assert k8s.status(name) == ABSENT and _pods_of(k8s, name) == []


def test_on_failure_that_succeeds_is_not_retried(k8s: Backend) -> None:
    name = f"fine-{uuid.uuid4().hex[:6]}"
    k8s.run(name=name, image=IMAGE, command=["sh", "-c", "echo done"], restart="on-failure")
    wait_for(lambda: _ended(k8s, name), "the run to end")
    info = k8s.inspect(name)
    assert info is not None and info.exit_code == 0 and k8s.logs(name) == "done\n"
    (pod,) = _pods_of(k8s, name)
    assert pod["status"]["phase"] == "Succeeded"
    k8s.remove(name)


COMPOSE_ONE_OFF = (
    WITH_A_MIGRATION
    + """  seed:
    image: {image}
    command: ["sh", "-c", "echo seeded"]
  app:
    image: {image}
    depends_on:
      migrate: {{condition: service_completed_successfully}}
      seed: {{condition: service_completed_successfully}}
    command: ["sh", "-c", "echo app-up; trap 'exit 0' TERM; sleep 600 & wait"]
"""
)


@pytest.mark.usefixtures("cli_on_k8s")
def test_a_project_waits_for_its_migrations_to_complete_and_down_leaves_no_job_or_pod(
    k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`migrate` says restart "no"; `seed` says nothing, which is Compose's "no" too: both run
    once as Jobs, and the app starts after both exited 0."""
    from oblako_backends.cli import main as cli

    project = f"mig{uuid.uuid4().hex[:6]}"
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE_ONE_OFF.format(image=IMAGE))
    try:
        assert cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0, capsys.readouterr().err
        for one_off, said in (("migrate", "migrated\n"), ("seed", "seeded\n")):
            info = k8s.inspect(f"{project}-{one_off}-1")
            assert info is not None and info.state != RUNNING and info.exit_code == 0
            assert k8s.logs(f"{project}-{one_off}-1") == said
        app = k8s.inspect(f"{project}-app-1")
        assert app is not None and app.state == RUNNING
        wait_for(lambda: "app-up" in k8s.logs(f"{project}-app-1"), "the app's line")
        kinds = kubectl(k8s, "get", "deployments,jobs", "-l", f"oblako.project={project}", "-o", "name").split()
        assert sorted(kinds) == sorted(
            [f"deployment.apps/{project}-app-1", f"job.batch/{project}-migrate-1", f"job.batch/{project}-seed-1"]
        )
    finally:
        assert cli(["down", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0
    left = kubectl(k8s, "get", "deployments,jobs,services", "-l", f"oblako.project={project}", "-o", "name")
    assert left.strip() == ""
    assert _pods_of(k8s, f"{project}-migrate-1") == _pods_of(k8s, f"{project}-seed-1") == []  # gone with their Job
    pods = ["get", "pods", "-l", f"oblako.project={project}", "-o", "name"]  # a Deployment's end after it, as before
    wait_for(lambda: kubectl(k8s, *pods).strip() == "", "the app's pod to end")


@pytest.mark.usefixtures("cli_on_k8s")
def test_a_migration_that_fails_stops_the_project_before_what_waits_for_it(
    k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends.cli import main as cli

    project = f"bad{uuid.uuid4().hex[:6]}"
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE_ONE_OFF.format(image=IMAGE).replace("echo migrated", "echo no-table; exit 2"))
    assert cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project]) != 0
    err = capsys.readouterr().err
    assert f"{project}-migrate-1 exited with code 2" in err and "no-table" in err
    assert k8s.status(f"{project}-app-1") == ABSENT  # never started
    left = kubectl(k8s, "get", "deployments,jobs", "-l", f"oblako.project={project}", "-o", "name")
    assert left.strip() == ""  # up undid what it started
    assert _pods_of(k8s, f"{project}-migrate-1") == []


def test_compose_run_passes_the_one_offs_output_and_exit_code_on_and_leaves_nothing(
    k8s: Backend, tmp_path: Path
) -> None:
    """`run -f FILE SERVICE CMD` (capabilities follow_logs and exit_code): a Job run once."""
    from oblako_backends.project import load
    from oblako_backends.project.run import one_off

    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  tool:\n    image: {IMAGE}\n    restart: always\n")  # run ignores it, as Compose's
    project = load(str(path), f"run{uuid.uuid4().hex[:6]}")
    printed: list[str] = []
    assert one_off(project, k8s, "tool", ["sh", "-c", "echo migrated; exit 3"], printed.append) == 3
    assert printed == ["migrated"]
    left = kubectl(k8s, "get", "deployments,jobs,pods", "-l", f"oblako.project={project.name}", "-o", "name")
    assert left.strip() == ""
