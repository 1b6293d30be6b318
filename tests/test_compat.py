"""oblako_backends.compat: the names oblako imports, with the semantics its callers rely on.

The behavioural intent of upstream oblako's tests/services/test_backends.py, ported onto
compat (written anew): backend classes per runtime, decided without connecting; the
Kubernetes mapping; DOCKER_HOST winning. What needs an engine is in the plugins' tests.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from oblako_backends import NotOwnedError, compat
from oblako_backends.labels import OWNER_LABELS


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OBLAKO_CONTAINER_BACKEND", "DOCKER_HOST", "CONTAINER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)


def test_states_are_the_plain_strings_oblako_compares() -> None:
    assert (compat.RUNNING, compat.STOPPED, compat.ABSENT) == ("running", "stopped", "absent")
    assert all(type(s) is str for s in (compat.RUNNING, compat.STOPPED, compat.ABSENT))


def test_port_in_use_is_a_runtime_error_carrying_the_port() -> None:
    error = compat.PortInUseError("host port 5439 is already in use", 5439)
    assert isinstance(error, RuntimeError) and error.port == 5439


@pytest.fixture
def listening(tmp_path: Path) -> tuple[str, list[object]]:
    """A unix socket that records every connection: proof that nothing connected."""
    path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.2)
    seen: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                seen.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"unix://{path}", seen
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (None, compat.DockerBackend),  # the default is docker
        ("docker", compat.DockerBackend),
        ("podman", compat.DockerBackend),  # podman and colima speak the Docker API
        ("colima", compat.DockerBackend),
        ("kubernetes", compat.KubernetesBackend),
        ("k8s", compat.KubernetesBackend),
        ("apple", compat.AppleContainerBackend),
        ("container", compat.AppleContainerBackend),
        ("memory", compat.ContainerBackend),
    ],
)
def test_each_runtime_gets_its_class_without_connecting(
    name: str | None, kind: type, listening: tuple[str, list[object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = listening
    monkeypatch.setenv("DOCKER_HOST", url)
    monkeypatch.setenv("CONTAINER_HOST", url)
    if name is not None:
        monkeypatch.setenv("OBLAKO_CONTAINER_BACKEND", name)
    backend = compat.get_backend()
    assert type(backend) is kind
    assert isinstance(backend, compat.DockerBackend) == (kind is compat.DockerBackend)
    assert isinstance(backend, compat.ContainerBackend)
    assert seen == []  # nothing was asked of any engine


def test_a_third_party_backend_declaring_docker_api_is_a_docker_backend(make_dist: object) -> None:
    source = (
        "from oblako_backends.testing.memory import MemoryPlugin\n"
        "class DockerishPlugin(MemoryPlugin):\n"
        "    capabilities = frozenset({'docker_api', 'pull'})\n"
    )
    make_dist(
        "oblako-backend-dockerish",
        {"oblako.backends": {"dockerish": "dockerish_mod:DockerishPlugin"}},
        {"dockerish_mod.py": source},
    )  # type: ignore[operator]
    assert isinstance(compat.get_backend("dockerish"), compat.DockerBackend)
    assert not isinstance(compat.get_backend("memory"), compat.DockerBackend)


def test_the_lifecycle_oblako_drives_with_its_nine_keywords() -> None:
    backend = compat.get_backend("memory")
    assert backend.status("oblako-s3") == compat.ABSENT
    backend.ensure_image("localhost/s3proxy:1")
    backend.run(
        name="oblako-s3",
        image="localhost/s3proxy:1",
        ports={"8080/tcp": 8001},
        environment={"S3PROXY_AUTHORIZATION": "none"},
        volumes={"oblako-s3": {"bind": "/data", "mode": "rw"}},
        extra_hosts={"host.docker.internal": "host-gateway"},
        command="--port 8080",
        working_dir="/opt",
        user="root",
    )
    assert backend.status("oblako-s3") == compat.RUNNING == "running"
    assert "started localhost/s3proxy:1 --port 8080" in backend.logs("oblako-s3", tail=5)
    backend.stop("oblako-s3")
    assert backend.status("oblako-s3") == "absent"
    backend.remove("oblako-s3")  # absent: a no-op


def test_stop_and_remove_adopt_a_container_with_no_owner_labels(caplog: pytest.LogCaptureFixture) -> None:
    backend = compat.get_backend("memory")
    plugin = backend.backend.plugin
    plugin.add_foreign("oblako-dynamodb", labels={"maintainer": "someone"})  # made by oblako before this layer
    with caplog.at_level("WARNING", logger="oblako_backends.compat"):
        backend.stop("oblako-dynamodb")
    assert backend.status("oblako-dynamodb") == "absent"
    assert "adopted oblako-dynamodb" in caplog.text
    plugin.add_foreign("oblako-again")
    backend.remove("oblako-again")
    assert backend.status("oblako-again") == "absent"


def a_key_of(namespace: str) -> str:
    """A label key in a namespace of labels.OWNER_LABELS: a prefix's, or a suffix's."""
    if namespace.startswith("."):
        return f"name{namespace}"
    return f"{namespace}project" if namespace.endswith(".") else namespace


@pytest.mark.parametrize("labels", [{a_key_of(n): "x"} for n in OWNER_LABELS] + [{"oblako.managed-by": "other"}])
def test_a_container_another_tool_owns_is_still_refused(labels: dict[str, str]) -> None:
    backend = compat.get_backend("memory")
    backend.backend.plugin.add_foreign("oblako-web", labels=labels)
    with pytest.raises(NotOwnedError):
        backend.stop("oblako-web")
    with pytest.raises(NotOwnedError):
        backend.remove("oblako-web")
    assert backend.status("oblako-web") == "running"


def test_the_core_api_never_adopts_without_being_asked() -> None:
    from oblako_backends import get_backend

    backend = get_backend("memory")
    backend.plugin.add_foreign("oblako-dynamodb")
    with pytest.raises(NotOwnedError):
        backend.stop("oblako-dynamodb")
    backend.stop("oblako-dynamodb", adopt=True)
    assert backend.status("oblako-dynamodb") == "absent"


def test_an_unreachable_cluster_reads_as_absent_for_kubernetes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """oblako's Service.stop asks status first; a cluster that is down means nothing to stop.
    The core API keeps raising: only compat translates."""
    from oblako_backends import RuntimeUnavailableError, get_backend

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("OBLAKO_TIMEOUT", "5")
    monkeypatch.setenv("OBLAKO_K8S_STATE_DIR", str(tmp_path / "state"))
    assert compat.get_backend("kubernetes").status("oblako-s3") == compat.ABSENT
    with pytest.raises(RuntimeUnavailableError):
        get_backend("kubernetes").status("oblako-s3")


def test_build_k8s_manifests_maps_a_dynamodb_like_service() -> None:
    manifest = compat.build_k8s_manifests(
        name="oblako-dynamodb",
        image="amazon/dynamodb-local:latest",
        ports={"8000/tcp": 8001},
        environment={"FOO": "bar"},
        volumes={"oblako-dynamodb": {"bind": "/home/dynamodblocal/data", "mode": "rw"}},
        extra_hosts={},
        command="-jar DynamoDBLocal.jar -sharedDb -dbPath ./data",
        working_dir="/home/dynamodblocal",
        user="root",
        namespace="oblako",
    )
    assert manifest["kind"] == "List"
    items = {i["kind"]: i for i in manifest["items"]}
    assert set(items) == {"Deployment", "Service", "PersistentVolumeClaim"}  # named volume: a claim, not emptyDir
    pod = items["Deployment"]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "amazon/dynamodb-local:latest"
    assert container["args"] == ["-jar", "DynamoDBLocal.jar", "-sharedDb", "-dbPath", "./data"]
    assert [p["containerPort"] for p in container["ports"]] == [8000]
    assert {"name": "FOO", "value": "bar"} in container["env"]
    assert container["workingDir"] == "/home/dynamodblocal"
    assert container["securityContext"] == {"runAsUser": 0}
    assert container["volumeMounts"][0]["mountPath"] == "/home/dynamodblocal/data"
    service = items["Service"]["spec"]
    assert service["selector"].items() <= pod["metadata"]["labels"].items()  # it selects the pods
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(8000, 8000)]


def test_build_k8s_manifests_emits_no_host_alias_for_host_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBLAKO_K8S_HOST_GATEWAY", raising=False)
    manifest = compat.build_k8s_manifests(
        name="sfn", image="busybox", extra_hosts={"host.docker.internal": "host-gateway"}
    )
    pod = manifest["items"][0]["spec"]["template"]["spec"]
    assert "hostAliases" not in pod


def test_publish_keeps_loopback_for_a_client_this_layer_did_not_make() -> None:
    class Foreign:
        pass

    assert compat.publish({"8080/tcp": 9000, "9090/tcp": None}, Foreign()) == {
        "8080/tcp": [("127.0.0.1", 9000)],
        "9090/tcp": [("127.0.0.1",)],
    }
    assert compat.publish(None, Foreign()) is None
    assert compat.bind_addresses(Foreign()) == ("127.0.0.1",)
