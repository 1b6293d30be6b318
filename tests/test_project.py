"""The project model (issue 20): pure data bound to no runtime, adapted to a backend without
being changed, and the 0.2 names still working, each with a DeprecationWarning."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
from oblako_backends import get_backend
from oblako_backends.project import Project, load
from oblako_backends.project.run import adapt, down, up

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
