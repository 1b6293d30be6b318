"""Compose's commands on real engines (docker, podman, colima): ps's columns, top, logs
--since/--until/-t, up --no-start then start, and depends_on's restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import runtimes
from oblako_backends.backend import Backend
from oblako_backends.cli import main as cli

IMAGE = runtimes.TEST_IMAGE
FOREVER = "trap 'exit 0' TERM; sleep 600 & wait"


def _project(tmp_path: Path, body: str, **more: object) -> Path:
    path = tmp_path / "compose.yaml"
    path.write_text(body.format(image=IMAGE, forever=FOREVER, **more))
    return path


def test_ps_of_a_project_shows_composes_columns_from_the_engine(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("ps").lower()
    port = runtimes.free_port()
    path = _project(
        tmp_path,
        "name: {project}\nservices:\n  web:\n    image: {image}\n    ports: ['127.0.0.1:{port}:8080']\n"
        "    command: ['sh', '-c', \"trap 'exit 0' TERM; httpd -f -p 8080 & wait\"]\n",
        port=port,
        project=project,
    )
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        capsys.readouterr()
        assert cli(["ps", "--project", project]) == 0
        header, row = capsys.readouterr().out.splitlines()
        assert header.split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
        assert row.startswith(f"{project}-web-1 ") and '"sh -c ' in row and '\u2026" ' in row  # the engine's quoting
        assert " web " in row and " ago " in row and " Up " in row
        assert row.endswith(f"127.0.0.1:{port}->8080/tcp")
        assert cli(["ps", "--project", project, "--format", "json", "--no-trunc"]) == 0
        (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert listed["Command"].startswith('"sh -c ') and "httpd -f -p 8080 & wait" in listed["Command"]
        assert (listed["Service"], listed["State"], listed["Project"]) == ("web", "running", project)
        assert listed["Publishers"] == [
            {"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": port, "Protocol": "tcp"}
        ]
        assert listed["RunningFor"].endswith("ago") and listed["CreatedAt"].endswith("+0000 UTC")
        capsys.readouterr()
        assert cli(["exec", "--file", str(path), "web", "sh", "-c", "echo $((6 * 7)); exit 3"]) == 3  # by its file
        assert capsys.readouterr().out == "42\n"
        assert cli(["port", "--file", str(path), "web", "8080"]) == 0
        assert capsys.readouterr().out == f"127.0.0.1:{port}\n"
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0


DOCKER_TOP_TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]  # `ps -ef`'s, as `docker top` shows


def test_top_lists_the_processes_of_a_container_and_of_a_projects_services(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    if "top" not in backend.capabilities:
        pytest.skip(f"{backend.name} does not declare top")
    project = unique_name("top").lower()
    path = _project(
        tmp_path,
        "services:\n  db:\n    image: {image}\n    command: ['sleep', '601']\n    init: true\n"
        "  web:\n    image: {image}\n    command: ['sleep', '602']\n    init: true\n    scale: 2\n",
    )
    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        capsys.readouterr()
        assert cli(["top", f"{project}-db-1"]) == 0  # as `docker top`, on Podman too
        header, *rows = capsys.readouterr().out.splitlines()
        assert header.split() == DOCKER_TOP_TITLES and any(r.endswith("sleep 601") for r in rows)
        assert cli(["top", "-p", project]) == 0
        header, *rows = capsys.readouterr().out.splitlines()
        assert header.split() == ["SERVICE", "#", *DOCKER_TOP_TITLES]
        mains = [r for r in rows if r.split()[-2] == "sleep" and "init" not in r]  # not the init before it
        ours = sorted((r.split()[0], r.split()[1], r.split()[-1]) for r in mains)
        assert ours == [("db", "1", "601"), ("web", "1", "602"), ("web", "2", "602")]
        assert cli(["top", "-p", project, "web"]) == 0
        assert {r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]} == {"web"}
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0


def test_depends_on_restart_true_restarts_the_dependent_when_its_dependency_restarts_or_is_recreated(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("restarts").lower()
    body = (
        "services:\n  db:\n    image: {image}\n    command: ['sh', '-c', \"echo {version}; {forever}\"]\n"
        "  web:\n    image: {image}\n    command: ['sh', '-c', \"{forever}\"]\n"
        "    depends_on:\n      db: {{condition: service_started, restart: true}}\n"
        "  worker:\n    image: {image}\n    command: ['sh', '-c', \"{forever}\"]\n    depends_on: [db]\n"
    )
    path = _project(tmp_path, body, version="v1")

    def mark() -> None:
        for service in ("db", "web", "worker"):
            assert cli(["exec", "-p", project, service, "touch", "/tmp/mark"]) == 0

    def renewed() -> set[str]:  # the services whose container is a new one (no mark)
        return {s for s in ("db", "web", "worker") if cli(["exec", "-p", project, s, "test", "-e", "/tmp/mark"]) == 1}

    try:
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        mark()
        assert cli(["restart", "-f", str(path), "-p", project, "db"]) == 0
        assert capsys.readouterr().out.splitlines()[-2:] == [
            f"db: {project}-db-1 restarted",
            f"web: {project}-web-1 restarted",
        ]
        assert renewed() == {"db", "web"}
        mark()
        _project(tmp_path, body, version="v2")  # db's command changed: `up` recreates it, and web with it
        assert cli(["up", "-f", str(path), "-p", project]) == 0
        assert renewed() == {"db", "web"}
        assert "restarting: db was recreated" in capsys.readouterr().err
    finally:
        assert cli(["down", "-f", str(path), "-p", project]) == 0


def test_up_no_start_creates_the_network_volume_and_containers_and_start_starts_those(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique_name("nostart").lower()
    port = runtimes.free_port()
    path = _project(
        tmp_path,
        "services:\n  db:\n    image: {image}\n    volumes: ['data:/data']\n"
        "    command: ['sh', '-c', \"echo db-up; {forever}\"]\n"
        "  web:\n    image: {image}\n    depends_on: [db]\n    ports: ['127.0.0.1:{port}:8080']\n"
        "    command: ['sh', '-c', \"echo web-up; trap 'exit 0' TERM; httpd -f -p 8080 & wait\"]\n"
        "volumes:\n  data: {{}}\n",
        port=port,
    )
    client = backend.docker_client()
    try:
        assert cli(["up", "--no-start", "-f", str(path), "-p", project]) == 0
        made = {i.name: i for i in backend.list() if i.project == project}
        assert sorted(made) == [f"{project}-db-1", f"{project}-web-1"]
        assert all(i.state != "running" and i.waiting for i in made.values())
        assert backend.logs(f"{project}-db-1") == ""  # never ran
        assert f"{project}_data" in [v.name for v in client.volumes.list()]
        assert f"{project}_default" in [n.name for n in client.networks.list()]
        with pytest.raises(OSError):
            runtimes.http_get("127.0.0.1", port, timeout=1)  # nothing listens yet
        capsys.readouterr()
        assert cli(["ps", "-p", project, "-a"]) == 0
        assert [" Created" in line for line in capsys.readouterr().out.splitlines()[1:]] == [True, True]

        assert cli(["start", "-f", str(path), "-p", project, "db"]) == 0
        assert backend.logs(f"{project}-db-1") == "db-up\n" and backend.logs(f"{project}-web-1") == ""
        assert cli(["up", "-f", str(path), "-p", project]) == 0  # starts web: the one created, not a new one
        assert runtimes.http_get("127.0.0.1", port)[0] in (200, 404)
        after = {i.name: i.created for i in backend.list() if i.project == project}
        assert after == {name: info.created for name, info in made.items()}
        assert backend.logs(f"{project}-web-1") == "web-up\n"
    finally:
        assert cli(["down", "-v", "-f", str(path), "-p", project]) == 0


def test_down_lists_the_project_once_then_only_stops_and_removes_each_container(
    backend: Backend, tmp_path: Path, unique_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Compose does: one listing, then a stop and a remove per container, all of them at
    once (no look-up of each container by name, no listing per step)."""
    import requests

    project = unique_name("down").lower()
    service = "    image: {image}\n    command: ['sh', '-c', \"{forever}\"]\n"
    path = _project(tmp_path, "services:\n" + "".join(f"  s{i}:\n{service}" for i in range(3)))
    assert cli(["up", "-f", str(path), "-p", project]) == 0
    ids = {i.name: i.id for i in backend.list() if i.project == project}
    assert len(ids) == 3 and all(ids.values())
    sent: list[tuple[str, str]] = []
    send = requests.Session.send

    def counted(session: requests.Session, request: requests.PreparedRequest, **options: object) -> object:
        sent.append((str(request.method), str(request.path_url).split("?")[0].split("/", 2)[-1]))
        return send(session, request, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.Session, "send", counted)
    assert cli(["down", "-f", str(path), "-p", project]) == 0
    on_containers = sorted(r for r in sent if r[1].startswith("containers"))
    assert on_containers == sorted(
        [("GET", "containers/json")]
        + [("POST", f"containers/{i}/stop") for i in ids.values()]
        + [("DELETE", f"containers/{i}") for i in ids.values()]
    )
    assert [i for i in backend.list() if i.project == project] == []
