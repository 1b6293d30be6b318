"""examples/keys/compose.yaml on every backend: each Compose key takes effect, checked from
inside the container, or `up` names it before anything starts (the backend lacks it).

The project: a database-like service with a secret from a file, a read-only root with a
tmpfs, a health check, a dropped capability and limits; a one-off migration that must exit 0
before the app starts (service_completed_successfully); the app, with a config, an init, a
user and a ulimit. Docker, Podman and Colima run on the engines the harness starts,
Kubernetes on the real cluster, Apple on its stand-in (its CLI runs on macOS only).
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import runtimes
from oblako_backends import ConfigurationError, Health, get_backend
from oblako_backends.backend import Backend
from oblako_backends.models import RUNNING
from oblako_backends.project import load
from oblako_backends.project.run import down, remove_volumes, up
from oblako_backends.testing.contract import MEMORY_LIMIT, PIDS_LIMIT, effective_capabilities, process_limits, run_in

EXAMPLE = runtimes.ROOT / "examples" / "keys"
STANDIN = runtimes.ROOT / "plugins" / "oblako-backend-apple" / "tests" / "standin" / "container"
NET_RAW = 1 << 13  # CAP_NET_RAW's bit in /proc/<pid>/status CapEff
pytestmark = pytest.mark.runtime  # its engines are chosen by parameter, so the fixture scan cannot see them
ENGINE_VARS = ("DOCKER_HOST", "CONTAINER_HOST", "DOCKER_CONTEXT", "COLIMA_HOME", "COLIMA_PROFILE", "KUBECONFIG")


@pytest.fixture(params=["docker", "podman", "colima", pytest.param("kubernetes", marks=pytest.mark.cluster), "apple"])
def keys_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Backend]:
    """The backend named by the parameter, on its real runtime, found as a user's would be."""
    for var in ENGINE_VARS:
        monkeypatch.delenv(var, raising=False)
    name = request.param
    if name == "podman":
        monkeypatch.setenv("CONTAINER_HOST", request.getfixturevalue("podman_engine").url)
        backend = get_backend("podman")
    elif name == "kubernetes":
        cluster = request.getfixturevalue("k8s_cluster")
        monkeypatch.setenv("KUBECONFIG", cluster.kubeconfig)
        backend = get_backend("kubernetes", namespace=cluster.namespace, state_dir=str(tmp_path / "k8s-state"))
    else:
        engine = request.getfixturevalue("docker_engine")
        if name == "colima":
            monkeypatch.setenv("HOME", str(request.getfixturevalue("colima_home")))
            backend = get_backend("colima")
        elif name == "apple":
            monkeypatch.setenv("DOCKER_HOST", engine.url)  # where the stand-in runs what it is asked
            backend = get_backend("container", cli_path=str(STANDIN), volumes_dir=str(tmp_path / "volumes"))
        else:
            monkeypatch.setenv("DOCKER_HOST", engine.url)
            backend = get_backend("docker")
    yield backend
    for info in backend.list():
        if info.project and info.project.startswith("keys"):
            backend.remove(info.name)


def test_each_key_of_the_keys_project_takes_effect_or_is_named_before_anything_starts(
    keys_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = keys_backend
    shutil.copytree(EXAMPLE, tmp_path / "keys")
    monkeypatch.setenv("KEYS_IMAGE", runtimes.TEST_IMAGE)
    project = load(str(tmp_path / "keys" / "compose.yaml"), f"keys{uuid.uuid4().hex[:6]}")
    can = backend.capabilities
    assert "exec" in can, f"{backend.name}: every backend here runs commands in its containers"
    one_off = "exit_code" in can  # it can tell the migration exited 0 (service_completed_successfully)
    if not one_off:
        with pytest.raises(ConfigurationError, match=r"migrate: condition 'service_completed_successfully' needs"):
            up(project, backend)
        assert [i.name for i in backend.list() if i.project == project.name] == []  # refused before anything
        project = project.only(["db"])  # the rest still runs, and its keys are checked
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        up(project, backend)
    told = [str(w.message) for w in said]
    try:
        db, migrate, app = (f"{project.name}-{s}-1" for s in ("db", "migrate", "app"))

        def applied(service: str, key: str, capability: str) -> bool:
            """Whether the backend applies `key`; if not, `up` must have said so for `service`."""
            if capability in can:
                assert not [t for t in told if t.startswith(f"{service}: {key}:")], told
                return True
            assert any(t.startswith(f"{service}: {key}: {backend.name} cannot apply it") for t in told), told
            return False

        info = backend.inspect(db)
        assert info is not None and info.state == RUNNING
        if "health" in can:
            assert info.health == Health.HEALTHY  # up waited for its check (migrate depends on it)
        if applied("db", "files", "files"):
            assert run_in(backend, db, "cat", "/run/secrets/db_password") == (0, "s3cret-pw\n")
        if applied("db", "read_only", "read_only"):
            assert run_in(backend, db, "touch", "/written")[0] != 0
        if applied("db", "tmpfs", "tmpfs"):
            mounts = run_in(backend, db, "cat", "/proc/mounts")[1].splitlines()
            assert any(line.split()[1:3] == ["/var/lib/db", "tmpfs"] for line in mounts), mounts
            assert run_in(backend, db, "touch", "/var/lib/db/written") == (0, "")
        if applied("db", "hostname", "hostname"):
            assert run_in(backend, db, "hostname") == (0, "database\n")
        if applied("db", "cap_drop", "security"):
            assert not effective_capabilities(backend, db) & NET_RAW
        if applied("db", "mem_limit", "resources"):
            assert run_in(backend, db, "sh", "-c", MEMORY_LIMIT)[1].split() == [str(64 * 1024**2)]
        if applied("db", "pids_limit", "process_limits"):
            assert run_in(backend, db, "sh", "-c", PIDS_LIMIT)[1].split() == ["64"]

        if one_off:
            # The app started only after the migration exited 0, which read the secret.
            assert "migrated" in backend.logs(migrate)
            done = backend.inspect(migrate)
            assert done is not None and done.state != RUNNING and done.exit_code == 0
            assert "app-up" in backend.logs(app)
            if applied("app", "files", "files"):
                assert run_in(backend, app, "cat", "/etc/app/app.conf") == (0, "greeting=hello\n")
                assert run_in(backend, app, "stat", "-c", "%a", "/etc/app/app.conf") == (0, "444\n")
            if applied("app", "init", "init"):
                assert run_in(backend, app, "cat", "/proc/1/comm")[1].strip() not in ("", "sh")
            assert run_in(backend, app, "id", "-u") == (0, "1234\n")
            if applied("app", "ulimits", "process_limits"):
                limits = process_limits(backend, app)
                assert (limits["Max open files"], limits["Max processes"]) == ((512, 1024), (256, 256))
            applied("app", "stop_signal", "stop_signal")  # its effect: the contract suite's stop test
    finally:
        assert down(project, backend) == {}
        remove_volumes(project, backend)
    assert [i.name for i in backend.list() if i.project == project.name] == []
