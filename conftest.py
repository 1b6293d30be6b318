"""Shared fixtures: throwaway distributions, and real runtimes started for the test session.

A runtime test uses a daemon the harness starts on a private socket (or the one named by
OBLAKO_TEST_DOCKER_HOST). When it cannot start: under CI=true the run fails, elsewhere the
runtime tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest


def _load_harness() -> ModuleType:
    """scripts/runtimes.py, the harness, as module `runtimes` for every test (`import runtimes`).
    Loaded by its path: this conftest is also read by pytest runs of other projects that collect
    the installed contract (`--pyargs`), where no setting of this repository applies."""
    spec = importlib.util.spec_from_file_location("runtimes", Path(__file__).parent / "scripts" / "runtimes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["runtimes"] = module
    spec.loader.exec_module(module)
    return module


runtimes = _load_harness()

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def _unavailable(what: str, exc: BaseException) -> None:
    if IN_CI:
        pytest.fail(f"{what} could not be started under CI: {exc}", pytrace=False)
    pytest.skip(f"{what} not available: {exc}")


@contextlib.contextmanager
def _started(what: str, prefix: str, start: Callable[[Path], runtimes.Daemon]) -> Iterator[runtimes.Daemon]:
    """Start a runtime in a fresh directory; stop it and remove the directory afterwards.

    If starting fails, whatever did start is stopped, then the run fails (CI) or skips.
    """
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        daemon = start(directory)
    except Exception as exc:  # whatever went wrong, clean up, then fail or skip
        pid = directory / "daemon.pid"
        if pid.exists():
            runtimes.stop_pid(int(pid.read_text()))
        runtimes.forget_networking(directory)
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable(what, exc)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[runtimes.Daemon]:
    """A real Docker Engine on a private socket, with the busybox test image built.

    It also listens where Colima would put its socket under `<dir>/colima-home`: Colima is a
    Docker Engine behind that socket, and no VM can run here.
    """
    given = os.environ.get("OBLAKO_TEST_DOCKER_HOST")
    if given:
        runtimes.build_test_image(given)
        yield runtimes.Daemon("docker", -1, given, Path(tempfile.mkdtemp(prefix="oblako-given-")))
        return

    def start(directory: Path) -> runtimes.Daemon:
        daemon = runtimes.start_dockerd(directory, also_at=(runtimes.colima_socket(directory / "colima-home"),))
        runtimes.build_test_image(daemon.url)
        return daemon

    with _started("Docker Engine", "oblako-docker-", start) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def stock_docker_engine() -> Iterator[runtimes.Daemon]:
    """Docker Engine as a distribution starts it (default socket, docker0, Docker's iptables
    rules), with the test image built; one the machine already runs is used and left running."""

    def start(directory: Path) -> runtimes.Daemon:
        daemon = runtimes.start_stock_dockerd(directory)
        runtimes.build_test_image(daemon.url)
        return daemon

    with _started("stock Docker Engine", "oblako-stock-docker-", start) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def colima_home(docker_engine: runtimes.Daemon) -> Path:
    """A HOME in which a real Docker Engine answers at Colima's default-profile socket."""
    home = docker_engine.directory / "colima-home"
    socket_path = runtimes.colima_socket(home)
    if not socket_path.exists():  # an engine we did not start: point Colima's path at it
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        socket_path.symlink_to(docker_engine.url.removeprefix("unix://"))
    return home


@pytest.fixture(scope="session")
def registry(docker_engine: runtimes.Daemon) -> Iterator[runtimes.Registry]:
    """A real registry on loopback holding the test image, for pull tests."""
    import docker

    def start(directory: Path) -> runtimes.Daemon:
        daemon = runtimes.start_registry(directory, runtimes.free_port())
        return daemon

    with _started("docker-registry", "oblako-registry-", start) as daemon:
        image = f"{daemon.url}/oblako/pull-test:1"
        api = docker.APIClient(base_url=docker_engine.url, version="auto", timeout=120)
        try:
            api.tag(runtimes.TEST_IMAGE, image)
            for event in api.push(image, stream=True, decode=True):
                if "error" in event:
                    pytest.fail(f"pushing the test image to the registry failed: {event['error']}")
            api.remove_image(image)
        finally:
            api.close()
        yield runtimes.Registry(daemon.url, image)


@contextlib.contextmanager
def _podman_started(what: str, prefix: str, start: Callable[[Path], runtimes.Daemon]) -> Iterator[runtimes.Daemon]:
    """A Podman API service with the test image built; its containers removed at the end, since
    they outlive the service."""

    def start_and_build(directory: Path) -> runtimes.Daemon:
        daemon = start(directory)
        runtimes.build_test_image(daemon.url)
        return daemon

    with _started(what, prefix, start_and_build) as daemon:
        try:
            yield daemon
        finally:
            runtimes.remove_all_containers(daemon.url)


@pytest.fixture(scope="session")
def podman_engine(registry: runtimes.Registry) -> Iterator[runtimes.Daemon]:
    """Podman's Docker-compatible service on a private socket, with the test image built."""
    with _podman_started(
        "Podman", "oblako-podman-", lambda d: runtimes.start_podman(d, registry=registry.address)
    ) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def rootless_podman() -> Iterator[runtimes.Daemon]:
    """Podman run by an unprivileged user (runtimes.start_rootless_podman), the test image
    built in that user's storage."""
    with _podman_started("rootless Podman", "oblako-rootless-", runtimes.start_rootless_podman) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def podman_cli() -> str:
    """The podman command, installed by the harness as the engines are: under CI a missing
    one fails the run, like a runtime that cannot start."""
    try:
        runtimes.ensure_installed("podman")
    except (runtimes.RuntimeStartError, subprocess.SubprocessError) as exc:
        _unavailable("the podman CLI", exc)
    return str(runtimes.locate("podman"))


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Container names unique to this test run, so reruns never collide."""
    token = uuid.uuid4().hex[:6]
    return lambda stem: f"t-{stem}-{token}"


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install a tiny real distribution (dist-info + modules) on sys.path for this test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(
        name: str,
        entry_points: dict[str, dict[str, str]],
        modules: dict[str, str] | None = None,
        version: str = "1.0",
        extras: tuple[str, ...] = (),
        requires: tuple[str, ...] = (),
    ) -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        provides = "".join(f"Provides-Extra: {extra}\n" for extra in extras)
        provides += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{provides}")
        lines = []
        for group, eps in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{k} = {v}" for k, v in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for filename, source in (modules or {}).items():
            (site / filename).write_text(source)
        return site

    return make


RUNTIME_FIXTURES = {
    "docker_engine",
    "stock_docker_engine",
    "rootless_podman",
    "podman_engine",
    "podman_cli",
    "registry",
    "colima_home",
    "engine",
    "k8s_cluster",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a real runtime, so `-m "not runtime"` runs the rest, and
    those that need the Kubernetes cluster, so scripts/test.sh can run them beside the rest."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if RUNTIME_FIXTURES & fixtures:
            item.add_marker(pytest.mark.runtime)
        if "k8s_cluster" in fixtures:
            item.add_marker(pytest.mark.cluster)


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    namespace: str
    apiserver_pid: int  # for tests that freeze the API server (SIGSTOP), from OBLAKO_TEST_K8S_APISERVER_PIDFILE


PERSISTENT_VOLUMES = 8  # this cluster has no provisioner: claims bind to volumes made here


def _kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["kubectl", f"--kubeconfig={kubeconfig}", "--request-timeout=60s", *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="session")
def k8s_cluster(docker_engine: runtimes.Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real Kubernetes cluster named explicitly (OBLAKO_TEST_KUBECONFIG), never the current context.

    .ci/run starts one with ../shared/k8s and sets the variables. The test image is copied
    into the cluster's containerd (OBLAKO_TEST_K8S_CONTAINERD) from the Docker Engine.
    A namespace of the session's own holds everything; hostPath PersistentVolumes stand in
    for the storage provisioner the cluster lacks.
    """
    kubeconfig = os.environ.get("OBLAKO_TEST_KUBECONFIG", "")
    if not kubeconfig:
        _unavailable("Kubernetes", RuntimeError("OBLAKO_TEST_KUBECONFIG names no cluster (.ci/run starts one)"))
    containerd = os.environ.get("OBLAKO_TEST_K8S_CONTAINERD", "")
    work = tmp_path_factory.mktemp("k8s")
    try:
        _kubectl(kubeconfig, "version")
        if containerd:
            import docker

            api = docker.APIClient(base_url=docker_engine.url, version="auto", timeout=120)
            with open(work / "image.tar", "wb") as out:
                for chunk in api.get_image(runtimes.TEST_IMAGE):
                    out.write(chunk)
            api.close()
            ctr = runtimes.locate("ctr") or "ctr"
            argv = [ctr, "-a", containerd, "-n", "k8s.io", "images", "import", str(work / "image.tar")]
            subprocess.run(argv, check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        _unavailable("Kubernetes", exc)
    namespace = f"oblako-test-{uuid.uuid4().hex[:6]}"
    volumes = []
    for i in range(PERSISTENT_VOLUMES):
        path = work / f"pv{i}"
        path.mkdir(mode=0o777)
        volumes.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"{namespace}-pv{i}", "labels": {"oblako-test": namespace}},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(path)},
                },
            }
        )
    _kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes}))
    try:
        pidfile = os.environ.get("OBLAKO_TEST_K8S_APISERVER_PIDFILE", "")
        yield Cluster(kubeconfig, namespace, int(Path(pidfile).read_text()) if pidfile else 0)
    finally:
        subprocess.run(
            [
                "kubectl",
                f"--kubeconfig={kubeconfig}",
                "delete",
                "namespace",
                namespace,
                "--wait=true",
                "--timeout=120s",
            ],
            capture_output=True,
            timeout=180,
            check=False,
        )
        subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig}", "delete", "pv", "-l", f"oblako-test={namespace}"],
            capture_output=True,
            timeout=120,
            check=False,
        )
