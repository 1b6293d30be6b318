"""Compose's commands on the memory backend: ps's columns, top, logs --since/--until/-t,
up --no-start and start, and depends_on's restart (the real engines: the plugins' tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from oblako_backends import plugins
from oblako_backends.backend import Backend
from oblako_backends.cli import main as cli
from oblako_backends.cli.display import human_duration
from oblako_backends.plugins import get_backend


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """One memory backend that every command of a test talks to."""
    found = get_backend("memory")
    monkeypatch.setattr(plugins, "get_backend", lambda name=None, **kw: found)
    yield found


@pytest.fixture
def compose(tmp_path: Path) -> Path:
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  db:\n    image: x:1\n    command: ['sh', '-c', 'echo a rather long command line']\n"
        "  web:\n    image: x:1\n    ports: ['127.0.0.1:18080:80']\n    depends_on: [db]\n"
    )
    return path


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (61, "About a minute"),
        (150, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (3 * 3600, "3 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_created_reads_as_dockers_cli_words_it(seconds: float, words: str) -> None:
    assert human_duration(seconds) == words


def test_ps_of_a_project_has_composes_columns_and_its_json_lines(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.run(
        name="shop-db-1",
        image="x:1",
        command=["sh", "-c", "echo a rather long command line"],
        service="db",
        project="shop",
    )
    backend.run(name="shop-web-1", image="x:1", ports={"80/tcp": ("127.0.0.1", 18080)}, service="web", project="shop")
    backend.run(name="other-web-1", image="x:1", service="web", project="other")
    assert cli(["ps", "--project", "shop"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert [r.split()[0] for r in rows] == ["shop-db-1", "shop-web-1"]
    assert '"sh -c echo a rather\u2026"' in rows[0] and "Less than a second ago" in rows[0] and " Up" in rows[0]
    assert rows[1].endswith("127.0.0.1:18080->80/tcp")
    assert cli(["ps", "--project", "shop", "--no-trunc", "db"]) == 0
    (only,) = capsys.readouterr().out.splitlines()[1:]
    assert '"sh -c echo a rather long command line"' in only

    assert cli(["ps", "--project", "shop", "--format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(c["Name"], c["Service"], c["State"], c["Status"]) for c in lines] == [
        ("shop-db-1", "db", "running", "Up"),
        ("shop-web-1", "web", "running", "Up"),
    ]
    assert lines[1]["Publishers"] == [{"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": 18080, "Protocol": "tcp"}]

    backend.plugin.exit("shop-db-1", 3)
    assert cli(["ps", "--project", "shop", "db"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == []  # running only, as Compose's
    assert cli(["ps", "--project", "shop", "-a", "db"]) == 0
    assert "Exited (3)" in capsys.readouterr().out
    assert cli(["ps", "db"]) == 2
    assert "needs --project NAME or --file FILE" in capsys.readouterr().err


def test_ps_port_exec_logs_and_top_find_the_project_by_its_file_as_up_names_it(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--file FILE` instead of `--project NAME`: the project `up -f FILE` makes (named after the
    file's directory here), as `docker compose -f FILE ps` finds it."""
    path = tmp_path / "shop" / "compose.yaml"
    path.parent.mkdir()
    path.write_text("services:\n  web:\n    image: x:1\n    ports: ['127.0.0.1:18081:80']\n  db:\n    image: x:1\n")
    backend.run(name="other-web-1", image="x:1", service="web", project="other")
    backend.run(name="shop-web-1", image="x:1", ports={"80/tcp": ("127.0.0.1", 18081)}, service="web", project="shop")
    backend.run(name="shop-db-1", image="x:1", service="db", project="shop")
    assert cli(["ps", "--file", str(path), "--format", "json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((c["Name"], c["Project"]) for c in listed) == [("shop-db-1", "shop"), ("shop-web-1", "shop")]
    assert cli(["ps", "--file", str(path), "web"]) == 0
    assert [r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]] == ["shop-web-1"]
    assert cli(["port", "--file", str(path), "web", "80"]) == 0
    assert capsys.readouterr().out == "127.0.0.1:18081\n"
    assert cli(["top", "--file", str(path), "db"]) == 0
    assert {r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]} == {"db"}
    backend.plugin.emit("shop-db-1", "ready to serve")
    assert cli(["logs", "--file", str(path), "db"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "db | ready to serve"
    assert cli(["exec", "--file", str(path), "cache", "true"]) == 1  # the file's project has no such service
    assert "no service 'cache' running in project 'shop' (its services: db, web)" in capsys.readouterr().err
    assert cli(["port", "--file", str(tmp_path / "none.yaml"), "web", "80"]) == 2
    assert "none.yaml" in capsys.readouterr().err
    assert cli(["down", "-f", str(path)]) == 0
    assert [i.name for i in backend.list()] == ["other-web-1"]


def test_top_rows_are_composes_one_table_with_cmd_last_and_a_dash_where_a_title_is_missing() -> None:
    from oblako_backends.cli.containers import replica_number, top_rows
    from oblako_backends.models import Processes

    docker = Processes(("UID", "PID", "CMD"), (("root", "7", "sleep 600"), ("root", "9", "sh")))
    podman = Processes(("USER", "PID", "COMMAND"), (("root", "1", "httpd"),))
    assert top_rows([("db", "1", docker), ("web", "2", podman)]) == [
        ["SERVICE", "#", "UID", "PID", "USER", "COMMAND", "CMD"],
        ["db", "1", "root", "7", "-", "-", "sleep 600"],
        ["db", "1", "root", "9", "-", "-", "sh"],
        ["web", "2", "-", "1", "root", "httpd", "-"],
    ]
    assert top_rows([("db", "1", Processes(("PID",)))]) == []  # nothing runs: nothing printed, as Compose
    assert [replica_number(n) for n in ("shop-web-2", "shop-web-10", "my-db")] == ["2", "10", "1"]


def test_top_lists_a_containers_processes_and_a_projects_in_composes_table(
    backend: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.run(name="shop-db-1", image="x:1", command=["sleep", "600"], service="db", project="shop")
    backend.run(name="shop-web-1", image="x:1", command=["httpd"], service="web", project="shop")
    backend.run(name="shop-web-2", image="x:1", command=["httpd"], service="web", project="shop")
    assert cli(["top", "shop-db-1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["PID  USER  CMD", "1    root  sleep 600"]
    assert cli(["top", "--project", "shop"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "SERVICE  #  PID  USER  CMD",
        "db       1  1    root  sleep 600",
        "web      1  1    root  httpd",
        "web      2  1    root  httpd",
    ]
    assert cli(["top", "--project", "shop", "web"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert cli(["top", "--project", "shop", "nope"]) == 1
    assert "no service 'nope' running in project 'shop' (its services: db, web)" in capsys.readouterr().err
    backend.plugin.exit("shop-db-1", 0)
    assert cli(["top", "shop-db-1"]) == 1
    assert "not running" in capsys.readouterr().err
    assert cli(["top", "a", "b"]) == 2
    monkeypatch.setattr(backend.plugin, "capabilities", backend.capabilities - {"top"})
    assert cli(["top", "shop-web-1"]) == 1
    assert "capability 'top'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("42m", 1_000_000 - 42 * 60),
        ("1h30m", 1_000_000 - 5400),
        ("1.5s", 1_000_000 - 1.5),
        ("1700000000", 1_700_000_000),
        ("1700000000.25", 1_700_000_000.25),
        ("2013-01-02T13:23:37Z", 1_357_133_017),
        ("2013-01-02T13:23:37.000000001Z", 1_357_133_017),
        ("2013-01-02T15:23:37+02:00", 1_357_133_017),
        ("0", 0),  # Unix time 0, not "now": Docker reads a bare 0 so
        ("0s", 1_000_000),
    ],
)
def test_since_and_until_read_the_forms_compose_takes(text: str, seconds: float) -> None:
    from oblako_backends.spec import log_moment

    assert log_moment("--since", text, 1_000_000) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["yesterday", "10x", "", "1e5", "2013-13-01", "--help"])
def test_a_moment_logs_cannot_read_is_refused_before_any_runtime(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["logs", "--backend", "surely-not-installed", f"--since={text}", "x"]) == 2
    err = capsys.readouterr().err
    assert f"invalid --since {text!r}" in err and "2013-01-02T13:23:37Z" in err


def test_logs_since_until_and_timestamps_on_a_container_and_a_project(
    backend: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.run(name="shop-web-1", image="x:1", service="web", project="shop")
    backend.plugin.emit("shop-web-1", "two")
    backend.plugin.emit("shop-web-1", "three")
    backend.plugin._containers["shop-web-1"].written[:] = [1_700_000_000, 1_700_000_060, 1_700_000_120.5]
    assert cli(["logs", "--since", "1700000030", "--until", "2023-11-14T22:15:00Z", "shop-web-1"]) == 0
    assert capsys.readouterr().out == "two\n"
    assert cli(["logs", "-t", "--since", "1700000100", "-p", "shop"]) == 0
    assert capsys.readouterr().out == "web | 2023-11-14T22:15:20.500000000Z three\n"
    assert cli(["logs", "--since", "5m", "shop-web-1"]) == 0  # relative: written long ago
    assert capsys.readouterr().out == ""
    with backend.follow_logs("shop-web-1", tail=5, since=1_700_000_030, timestamps=True) as stream:
        assert next(stream) == "2023-11-14T22:14:20.000000000Z two"
        assert next(stream) == "2023-11-14T22:15:20.500000000Z three"
        backend.plugin.emit("shop-web-1", "four")
        assert next(stream).endswith("Z four")
    monkeypatch.setattr(backend.plugin, "capabilities", backend.capabilities - {"log_times"})
    assert cli(["logs", "-t", "shop-web-1"]) == 1
    assert "capability 'log_times'" in capsys.readouterr().err
    assert cli(["logs", "shop-web-1"]) == 0  # without them, as before


RESTARTS = """
services:
  db:
    image: x:1
    command: {db_command}
  web:
    image: x:1
    depends_on:
      db: {{condition: service_started, restart: true}}
  worker:
    image: x:1
    depends_on:
      db: {{condition: service_started}}
  linked:
    image: x:1
    links: [db]
  sharing:
    image: x:1
    volumes_from: [db]
"""


def test_depends_on_restart_true_restarts_the_dependent_with_its_dependency(backend: Backend, tmp_path: Path) -> None:
    from oblako_backends.project import load
    from oblako_backends.project.run import restart, up

    path = tmp_path / "compose.yaml"
    path.write_text(RESTARTS.format(db_command="[one]"))
    project = load(path, "shop")
    assert {d.name: d.restart_with for d in project.services} == {
        "db": (),
        "web": ("db",),
        "worker": (),
        "linked": ("db",),  # links imply it, as Compose's config prints; volumes_from does not
        "sharing": (),
    }
    up(project, backend)

    def mark() -> None:
        for info in backend.list():
            backend.plugin.emit(info.name, "before")

    def renewed() -> set[str]:
        return {i.service for i in backend.list() if "before" not in backend.logs(i.name)}

    mark()
    assert [o.name for o in restart(project, backend, ["db"])] == ["db", "web", "linked"]
    assert renewed() == {"db", "web", "linked"}  # worker and sharing kept running as they were
    mark()
    up(project, backend)  # nothing changed: nothing recreated, nothing restarted
    assert renewed() == set()
    path.write_text(RESTARTS.format(db_command="[two]"))
    up(load(path, "shop"), backend)  # db's spec changed: recreated, and what restarts with it
    assert renewed() == {"db", "web", "linked"}
    mark()
    assert [o.name for o in restart(project, backend, ["web"])] == ["web"]  # not the other way round
    assert renewed() == {"web"}


def test_up_no_start_creates_everything_and_starts_nothing_then_start_and_up_start_those(
    backend: Backend, compose: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    compose.write_text(
        "services:\n  db:\n    image: x:1\n    volumes: ['data:/data']\n"
        "  web:\n    image: x:1\n    depends_on: [db]\n  tool:\n    image: x:1\nvolumes:\n  data: {}\n"
    )
    assert cli(["up", "--no-start", "-f", str(compose), "-p", "shop"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "SERVICE  CONTAINER    STATE",
        "db       shop-db-1    created",
        "web      shop-web-1   created",
        "tool     shop-tool-1  created",
    ]
    made = {i.name: i for i in backend.list()}
    assert sorted(made) == ["shop-db-1", "shop-tool-1", "shop-web-1"]
    assert all(i.state != "running" and i.waiting for i in made.values())
    assert backend.plugin._volumes["shop_data"]  # the volume too, labelled as up makes it
    assert cli(["ps", "-p", "shop", "-a", "--format", "json"]) == 0
    assert {json.loads(line)["Status"] for line in capsys.readouterr().out.splitlines()} == {"Created"}
    assert cli(["up", "--no-start", "-f", str(compose), "-p", "shop"]) == 0  # again: the same ones kept
    assert {i.name: i.created for i in backend.list()} == {n: i.created for n, i in made.items()}

    assert cli(["start", "-f", str(compose), "-p", "shop", "web"]) == 0  # and what it depends on
    assert capsys.readouterr().out.splitlines()[-2:] == ["db: shop-db-1 started", "web: shop-web-1 started"]
    assert {i.name: str(i.state) for i in backend.list()} == {
        "shop-db-1": "running",
        "shop-tool-1": "stopped",
        "shop-web-1": "running",
    }
    assert {i.name: i.created for i in backend.list()} == {n: i.created for n, i in made.items()}  # not replaced
    assert cli(["up", "-f", str(compose), "-p", "shop"]) == 0
    assert all(i.state == "running" for i in backend.list())
    assert {i.name: i.created for i in backend.list()} == {n: i.created for n, i in made.items()}

    assert cli(["down", "-f", str(compose), "-p", "shop"]) == 0
    capsys.readouterr()
    assert cli(["start", "-f", str(compose), "-p", "shop"]) == 1
    assert "service 'db' has no container to start (shop-db-1); nothing was started" in capsys.readouterr().err
    assert cli(["up", "--no-start", "-f", str(compose), "-p", "shop"]) == 0
    compose.write_text(compose.read_text().replace("  tool:\n    image: x:1\n", "  tool:\n    image: x:2\n"))
    capsys.readouterr()
    assert cli(["start", "-f", str(compose), "-p", "shop"]) == 1  # changed since: start never recreates
    assert "its container shop-tool-1 was made from another version of the file" in capsys.readouterr().err
    assert all(i.state != "running" for i in backend.list())
    assert cli(["down", "-f", str(compose), "-p", "shop"]) == 0
    monkeypatch.setattr(backend.plugin, "capabilities", backend.capabilities - {"create"})
    assert cli(["up", "--no-start", "-f", str(compose), "-p", "shop"]) == 1
    assert "capability 'create'" in capsys.readouterr().err and backend.list() == []


def test_up_no_start_never_takes_another_projects_container_of_the_same_name(
    backend: Backend, compose: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compose.write_text("services:\n  db:\n    image: x:1\n    container_name: fixed-db\n")
    assert cli(["up", "--no-start", "-f", str(compose), "-p", "shop"]) == 0
    (made,) = backend.list()
    capsys.readouterr()
    assert cli(["up", "--no-start", "-f", str(compose), "-p", "other"]) == 1
    assert "'shop'" in capsys.readouterr().err  # names whose it is
    assert backend.list() == [made]  # left as it was
    assert cli(["down", "-f", str(compose), "-p", "shop"]) == 0
