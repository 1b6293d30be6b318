"""A Compose file run as a project on docker, podman and colima: up, ps, logs, config, down."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import runtimes
from oblako_backends import ABSENT, RUNNING
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
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("served from a bind mount\n")
    (tmp_path / "web.env").write_text("FROM_FILE=1\n")
    path = tmp_path / "compose.yaml"
    path.write_text(COMPOSE.format(image=IMAGE, port=port))
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        out = capsys.readouterr().out
        assert f"{project}-db" in out and f"{project}-web" in out
        assert runtimes.http_get("127.0.0.1", port) == (200, "served from a bind mount\n")
        assert backend.status(f"{project}-db") == RUNNING and backend.status(f"{project}-web") == RUNNING
        info = backend.inspect(f"{project}-web")
        assert info is not None and info.project == project and info.labels["team"] == "shop"

        assert cli(["ps", "--project", project, "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert sorted(c["service"] for c in listed) == ["db", "web"]

        wait_for(lambda: "hello from compose" in backend.logs(f"{project}-web"), "web's greeting")
        assert cli(["logs", "--project", project]) == 0
        assert capsys.readouterr().out.splitlines() == ["db  | db-ready", "web | hello from compose"]

        volumes = [v.name for v in backend.docker_client().volumes.list()]
        assert f"{project}_data" in volumes  # named per project, as Compose names them
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0
        with contextlib.suppress(Exception):
            backend.docker_client().volumes.get(f"{project}_data").remove()
    assert backend.status(f"{project}-db") == ABSENT and backend.status(f"{project}-web") == ABSENT


def test_the_compose_demo_runs_like_the_toml_one(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    demo = str(runtimes.ROOT / "examples" / "compose.yaml")
    try:
        assert cli(["up", "-f", demo]) == 0
        assert runtimes.http_get("127.0.0.1", 18462) == (200, "hello from greeter\n")  # fetched via the host
        assert "caller got: hello from greeter" in backend.logs("examples-caller")
    finally:
        assert cli(["down", "-f", demo]) == 0
    assert backend.status("examples-greeter") == ABSENT and backend.status("examples-caller") == ABSENT


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
