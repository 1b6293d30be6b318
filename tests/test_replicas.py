"""Containers named as Compose names them (issue 21, item 5): `<project>-<service>-<n>`, one per
replica; the containers 0.2 named `<project>-<service>` are found and replaced, never left behind.
On the in-process memory backend; tests/test_compose.py runs the same on real engines."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
from oblako_backends import Backend, get_backend
from oblako_backends.errors import ConfigurationError
from oblako_backends.project import Project, load
from oblako_backends.project.model import service_def
from oblako_backends.project.run import down, up

COMPOSE = "services:\n  web:\n    image: x:1\n  db:\n    image: x:1\n"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    return load(tmp_path / "compose.yaml", "shop")


def scaled(project: Project, **replicas: int) -> Project:
    services = tuple(dataclasses.replace(d, replicas=replicas.get(d.name, d.replicas)) for d in project.services)
    return dataclasses.replace(project, services=services)


@pytest.fixture
def memory() -> Backend:
    return get_backend("memory")  # each one holds its own containers


def names(memory: Backend, project: str = "shop") -> set[str]:
    return {c.name for c in memory.list() if c.project == project}


def quietly_up(project: Project, memory: Backend) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # what memory cannot do, said by up
        return [o.container for o in up(project, memory)]


def test_each_service_runs_as_project_service_1(project: Project, memory: Backend) -> None:
    assert quietly_up(project, memory) == ["shop-web-1", "shop-db-1"]
    assert names(memory) == {"shop-web-1", "shop-db-1"}
    assert down(project, memory) == {} and names(memory) == set()


def test_a_scaled_service_runs_one_container_per_replica_and_down_stops_them_all(
    project: Project, memory: Backend
) -> None:
    three = scaled(project, web=3)
    assert sorted(quietly_up(three, memory)) == ["shop-db-1", "shop-web-1", "shop-web-2", "shop-web-3"]
    assert {c.service for c in memory.list() if c.project == "shop"} == {"web", "db"}
    assert down(three, memory) == {} and names(memory) == set()


def test_scaling_down_removes_the_replicas_beyond_the_scale_and_scale_0_runs_none(
    project: Project, memory: Backend
) -> None:
    quietly_up(scaled(project, web=3), memory)
    quietly_up(project, memory)
    assert names(memory) == {"shop-web-1", "shop-db-1"}
    quietly_up(scaled(project, web=0), memory)
    assert names(memory) == {"shop-db-1"}
    down(project, memory)
    assert names(memory) == set()


def test_a_container_0_2_named_is_replaced_by_up_and_stopped_by_down(project: Project, memory: Backend) -> None:
    memory.run(name="shop-web", image="x:1", service="web", project="shop")  # as 0.2's `up` named it
    quietly_up(project, memory)
    assert names(memory) == {"shop-web-1", "shop-db-1"}
    memory.run(name="shop-db", image="x:1", service="db", project="shop")
    assert down(project, memory) == {} and names(memory) == set()


def test_what_another_project_or_no_project_owns_is_never_touched(project: Project, memory: Backend) -> None:
    memory.run(name="other-web-2", image="x:1", service="web", project="other")
    memory.run(name="shop-web-7", image="x:1", service="web", project="other")  # our pattern, their container
    memory.run(name="shop-web-8", image="x:1")  # labelled with no project at all
    quietly_up(scaled(project, web=2), memory)
    down(project, memory)
    assert names(memory, "other") == {"other-web-2", "shop-web-7"}
    assert memory.inspect("shop-web-8") is not None
    for name in ("other-web-2", "shop-web-7", "shop-web-8"):
        memory.remove(name)


def test_replicas_of_one_fixed_host_port_are_refused_before_anything_starts(tmp_path: Path, memory: Backend) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x:1\n    ports: ['8080:80']\n")
    project = scaled(load(tmp_path / "compose.yaml", "shop"), web=2)
    with pytest.raises(ConfigurationError, match=r"services\.web: ports: 2 replicas cannot all publish host port 8080"):
        quietly_up(project, memory)
    assert names(memory) == set()


def test_a_container_name_with_replicas_or_a_bad_replica_count_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    with pytest.raises(ConfigurationError, match=r"services\.web: container_name: 2 replicas cannot share"):
        service_def(path, "web", "x:1", "shop", {}, "fixed", replicas=2)
    for bad in (-1, "2", 1.5, True):
        with pytest.raises(ConfigurationError, match=r"services\.web: scale: .* is not a number of containers"):
            service_def(path, "web", "x:1", "shop", {}, replicas=bad)
