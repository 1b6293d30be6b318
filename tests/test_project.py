"""The project model (issue 20): pure data bound to no runtime, adapted to a backend without
being changed, and the 0.2 names still working, each with a DeprecationWarning."""

from __future__ import annotations

import dataclasses
import threading
import time
import warnings
from pathlib import Path

import pytest
from oblako_backends import ConfigurationError, get_backend
from oblako_backends.project import Project, load
from oblako_backends.project.run import ProjectError, adapt, down, up

COMPOSE = "services:\n  web:\n    image: x:1\n    healthcheck: {test: 'true', interval: 1s}\n  db:\n    image: x:1\n"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    return tmp_path / "compose.yaml"


def test_a_project_is_frozen_and_knows_no_backend(path: Path) -> None:
    project = load(path, "shop")
    assert isinstance(project, Project) and project.name == "shop"
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.services[0].spec.image = "y:1"  # type: ignore[misc]
    assert not [f.name for d in project.services for f in dataclasses.fields(d) if "backend" in f.name]


def test_adapting_to_a_backend_changes_a_copy_and_says_each_change(path: Path) -> None:
    project = load(path, "shop")
    adapted, said = adapt(project, frozenset(), "memory")
    assert all(d.spec.network == "shop_default" and d.spec.aliases for d in project.services)
    assert [d.spec.network for d in adapted.services] == [None, None]
    assert project.services[0].spec.health is not None and adapted.services[0].spec.health is None
    assert said == [
        "service names do not resolve on memory: services reach each other through their published ports on "
        "the host (host.docker.internal)",
        "web: memory cannot run health checks inside the container; waiting for its first published port, from "
        "the host instead",
    ]
    assert adapt(project, frozenset({"service_names", "health"}), "docker") == (project, [])


def test_up_leaves_the_project_as_it_was_so_down_sees_what_a_fresh_read_sees(path: Path) -> None:
    memory = get_backend("memory")
    project = load(path, "same")
    before = dataclasses.replace(project)
    with pytest.warns(UserWarning):
        up(project, memory)
    assert project == before == load(path, "same")
    assert down(project, memory) == {}
    assert [c.name for c in memory.list() if c.project == "same"] == []


def test_the_0_2_names_still_work_and_say_where_they_went(path: Path) -> None:
    from oblako_backends import compose, stack

    memory = get_backend("memory")
    with pytest.warns(DeprecationWarning, match=r"oblako_backends\.project\.load"):
        old = stack.load(path, memory, "old")
    assert old.project == "old" and [d.name for d in old.services] == ["web", "db"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # what memory cannot do, said by up
        with pytest.warns(DeprecationWarning, match=r"project\.run\.up\(project, backend\)"):
            stack.up(old)
    assert {c.name for c in memory.list() if c.project == "old"} == {"old-web-1", "old-db-1"}
    with pytest.warns(DeprecationWarning, match=r"project\.run\.down"):
        assert stack.down(old) == {}
    with pytest.warns(DeprecationWarning, match=r"project\.run\.ProjectError"):
        assert stack.StackError.__name__ == "ProjectError"
    with pytest.warns(DeprecationWarning, match=r"project\.compose\.SUPPORTED"):
        assert "image" in compose.SUPPORTED
    with pytest.warns(DeprecationWarning, match=r"project\.load"):
        assert compose.load_compose(path, memory, "c").name == "c"
    with pytest.raises(AttributeError):
        stack.no_such_name  # noqa: B018


def test_a_backend_that_cannot_tell_its_volumes_apart_removes_none(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oblako_backends import OblakoBackendError
    from oblako_backends.project.run import containers, remove_volumes

    memory = get_backend("memory")
    monkeypatch.setattr(memory.plugin, "capabilities", frozenset({"pull"}))
    with pytest.raises(OblakoBackendError, match="the memory backend cannot remove volumes; remove them with its own"):
        remove_volumes(load(path, "vols"), memory)
    assert containers("vols", memory) == {}


ONE_OFF = (
    "services:\n  db:\n    image: x:1\n  migrate:\n    image: x:1\n    depends_on: [db]\n"
    "  web:\n    image: x:1\n    depends_on: {migrate: {condition: service_completed_successfully}}\n"
    "  other:\n    image: x:1\n"
)


def _exits_when_started(backend: object, container: str, code: int) -> threading.Thread:
    """A thread that ends `container` with `code` once it runs, as a one-off's process would."""

    def finish() -> None:
        deadline = time.monotonic() + 30
        while backend.inspect(container) is None and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        backend.plugin.exit(container, code)  # type: ignore[attr-defined]

    thread = threading.Thread(target=finish, daemon=True)
    thread.start()
    return thread


def test_up_starts_a_service_waiting_for_a_one_off_only_after_it_exits_0(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(ONE_OFF)
    project, backend = load(tmp_path / "compose.yaml", "shop"), get_backend("memory")
    _exits_when_started(backend, "shop-migrate-1", 0)
    outcomes = {o.name: o for o in up(project, backend)}
    assert not any(o.error for o in outcomes.values())
    migrate, web = backend.inspect("shop-migrate-1"), backend.inspect("shop-web-1")
    assert migrate is not None and migrate.exit_code == 0 and web is not None and web.state == "running"


def test_a_one_off_that_fails_stops_the_project_and_starts_nothing_that_waits_for_it(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(ONE_OFF)
    project, backend = load(tmp_path / "compose.yaml", "shop"), get_backend("memory")
    _exits_when_started(backend, "shop-migrate-1", 3)
    with pytest.raises(ProjectError) as failed:
        up(project, backend)
    assert "shop-migrate-1 exited with code 3" in str(failed.value.outcomes[0].error)
    assert backend.inspect("shop-web-1") is None  # never started
    assert [i.name for i in backend.list()] == []  # and what had started was stopped again


def test_up_with_service_names_starts_them_and_what_they_depend_on_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "compose.yaml").write_text(
        ONE_OFF.replace("condition: service_completed_successfully", "condition: service_started")
    )
    project = load(tmp_path / "compose.yaml", "shop")
    assert [d.name for d in project.only(["web"]).services] == ["db", "migrate", "web"]
    assert [d.name for d in project.only(["db"]).services] == ["db"]
    with pytest.raises(ConfigurationError, match="no service 'nope' in project 'shop' \\(its services: "):
        project.only(["nope"])
    from oblako_backends.cli import main as cli

    assert cli(["up", "--backend", "memory", "-f", str(tmp_path / "compose.yaml"), "-p", "shop", "migrate"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["db", "migrate"]
    assert cli(["up", "--backend", "memory", "-f", str(tmp_path / "compose.yaml"), "-p", "shop", "nope"]) == 2
    assert "no service 'nope'" in capsys.readouterr().err


def test_a_backend_that_cannot_tell_an_exit_code_is_refused_a_one_off_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(ONE_OFF)
    project, backend = load(tmp_path / "compose.yaml", "shop"), get_backend("memory")
    backend.plugin.capabilities = backend.capabilities - {"exit_code"}  # as apple's CLI: it prints none
    with pytest.raises(ConfigurationError, match="capability 'exit_code'"):
        up(project, backend)
    assert backend.list() == []


def test_restart_starts_the_named_services_again_and_leaves_what_they_depend_on_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends.cli import main as cli
    from oblako_backends.project.run import restart

    (tmp_path / "compose.yaml").write_text(
        "services:\n  db:\n    image: x:1\n  web:\n    image: x:1\n    depends_on: [db]\n"
    )
    project, backend = load(tmp_path / "compose.yaml", "shop"), get_backend("memory")
    up(project, backend)
    for name in ("shop-db-1", "shop-web-1"):
        backend.plugin.emit(name, "before the restart")
    outcomes = restart(project, backend, ["web"])
    assert [o.container for o in outcomes] == ["shop-web-1"]
    assert "before the restart" not in backend.logs("shop-web-1")  # a new container
    assert "before the restart" in backend.logs("shop-db-1")  # untouched
    with pytest.raises(ConfigurationError, match="no service 'nope'"):
        restart(project, backend, ["nope"])
    assert cli(["restart", "--backend", "memory", "-f", str(tmp_path / "compose.yaml"), "-p", "shop", "nope"]) == 2
    assert "no service 'nope'" in capsys.readouterr().err


def test_down_names_orphans_and_removes_them_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oblako_backends import plugins
    from oblako_backends.cli import main as cli

    backend = get_backend("memory")
    monkeypatch.setattr(plugins, "get_backend", lambda name=None, **kw: backend)  # one backend for every command
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  web:\n    image: x:1\n  old:\n    image: x:1\n  tool:\n    image: x:1\n    profiles: [debug]\n"
    )
    assert cli(["up", "-f", str(path), "-p", "shop", "--profile", "debug"]) == 0
    path.write_text("services:\n  web:\n    image: x:1\n  tool:\n    image: x:1\n    profiles: [debug]\n")  # old went
    capsys.readouterr()
    assert cli(["down", "-f", str(path), "-p", "shop"]) == 0
    err = capsys.readouterr().err
    assert "found orphan containers (shop-old-1)" in err  # not shop-tool-1: its profile is off, not gone
    assert sorted(i.name for i in backend.list()) == ["shop-old-1", "shop-tool-1"]
    assert cli(["down", "-f", str(path), "-p", "shop", "--remove-orphans"]) == 0
    assert sorted(i.name for i in backend.list()) == ["shop-tool-1"]


def test_a_one_off_runs_after_what_it_needs_passes_its_output_and_exit_code_on_and_goes(tmp_path: Path) -> None:
    from oblako_backends.project.run import one_off

    (tmp_path / "compose.yaml").write_text(
        "services:\n  db:\n    image: x:1\n  tool:\n    image: x:1\n    ports: ['8080:80']\n    depends_on: [db]\n"
    )
    project, backend = load(tmp_path / "compose.yaml", "shop"), get_backend("memory")

    def finish() -> None:  # the one-off's process: a line, then exit 3
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            made = [i.name for i in backend.list() if i.name.startswith("shop-tool-run-")]
            if made:
                backend.plugin.emit(made[0], "migrated")
                backend.plugin.exit(made[0], 3)
                return
            time.sleep(0.01)

    threading.Thread(target=finish, daemon=True).start()
    printed: list[str] = []
    assert one_off(project, backend, "tool", ["migrate", "--now"], printed.append) == 3
    assert printed == ["started x:1 migrate --now", "migrated"]
    assert [i.name for i in backend.list()] == ["shop-db-1"]  # what it needed runs; the one-off went
    with pytest.raises(ConfigurationError, match="no service 'nope'"):
        one_off(project, backend, "nope")


def test_run_with_a_file_refuses_container_options_the_file_decides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends.cli import main as cli

    (tmp_path / "compose.yaml").write_text("services:\n  tool:\n    image: x:1\n")
    assert cli(["run", "--backend", "memory", "-f", str(tmp_path / "compose.yaml"), "-e", "A=1", "tool"]) == 2
    assert "-e cannot be given with -f" in capsys.readouterr().err
    assert cli(["run", "--backend", "memory", "--rm", "x:1"]) == 2
    assert "--rm and --project go with -f FILE" in capsys.readouterr().err


def test_up_of_a_running_unchanged_project_gets_no_image_and_makes_no_container(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  db:\n    image: x:1\n  web:\n    build: .\n")
    (tmp_path / "Dockerfile").write_text("FROM x:1\n")
    memory = get_backend("memory")
    project = load(tmp_path / "compose.yaml", "again")
    first: list[tuple[str, str]] = []
    with pytest.warns(UserWarning, match="service names do not resolve"):
        up(project, memory, progress=lambda service, line: first.append((service, line)))
    assert ("db", "pulled x:1") in first and any(s == "web" and line.startswith("building") for s, line in first)
    again: list[tuple[str, str]] = []
    with pytest.warns(UserWarning, match="service names do not resolve"):
        up(project, memory, progress=lambda service, line: again.append((service, line)))
    assert sorted(again) == [
        ("db", "ready"),
        ("db", "running; waiting until ready"),
        ("web", "ready"),
        ("web", "running; waiting until ready"),
    ]
    changed = load(tmp_path / "compose.yaml", "again")
    changed = dataclasses.replace(
        changed,
        services=tuple(
            dataclasses.replace(d, spec=dataclasses.replace(d.spec, command=("serve",))) if d.name == "db" else d
            for d in changed.services
        ),
    )
    third: list[tuple[str, str]] = []
    with pytest.warns(UserWarning, match="service names do not resolve"):
        up(changed, memory, progress=lambda service, line: third.append((service, line)))
    assert ("db", "started; waiting until ready") in third and ("web", "running; waiting until ready") in third
    assert down(changed, memory) == {}


def test_up_takes_composes_detach_and_wait_flags_as_what_it_always_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends.cli import main as cli

    (tmp_path / "compose.yaml").write_text("services:\n  db:\n    image: x:1\n")
    for flags in (["-d"], ["--detach", "--wait"], ["--wait"]):
        assert cli(["up", "--backend", "memory", "-f", str(tmp_path / "compose.yaml"), "-p", "flags", *flags]) == 0
        assert capsys.readouterr().out.splitlines()[1].split()[0] == "db"  # started, ready, and listed
    with pytest.raises(SystemExit) as refused:
        cli(["up", "--backend", "memory", "-f", str(tmp_path / "compose.yaml"), "--wiat"])
    assert refused.value.code == 2
    assert "unrecognized arguments: --wiat" in capsys.readouterr().err
