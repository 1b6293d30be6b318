"""Races and identity on the Docker-API backends (docker, podman, colima), on real engines.

The thread and process races of `Service.start` are in the shared contract (RaceContract);
here: a name is never taken for an ID, and two `up`s of one file started together converge.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker.errors
import pytest
import runtimes
from oblako_backends import ABSENT, RUNNING, Service
from oblako_backends.backend import Backend
from oblako_backends.cli import main as cli
from oblako_backends.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL
from oblako_backends.project import load

IMAGE = runtimes.TEST_IMAGE
Names = Callable[[str], str]
FOREVER = "trap 'exit 0' TERM; sleep 600 & wait"


def test_a_name_that_prefixes_another_containers_id_never_reaches_that_container(
    backend: Backend, unique_name: Names
) -> None:
    other = unique_name("other")
    backend.run(name=other, image=IMAGE, command=["sh", "-c", f"echo other-says-hi; {FOREVER}"])
    prefix = backend.docker_client().containers.get(other).id[:12]  # the engine resolves this as an ID

    assert backend.inspect(prefix) is None and backend.status(prefix) == ABSENT
    assert backend.logs(prefix) == ""
    backend.stop(prefix)
    backend.remove(prefix)
    assert cli(["stop", prefix]) == 0 and cli(["rm", prefix]) == 0
    assert backend.status(other) == RUNNING  # untouched by any of that

    svc = Service("prefix", IMAGE, backend=backend, container_name=prefix, command=["sh", "-c", FOREVER])
    try:
        assert svc.start() is True  # its own container, not a replacement of the other one
        assert backend.status(other) == RUNNING and "other-says-hi" in backend.logs(other)
        assert {prefix, other} <= {c.name for c in backend.list()}
    finally:
        svc.stop()
    assert backend.status(other) == RUNNING


def test_two_ups_of_one_file_started_together_converge(backend: Backend, tmp_path: Path, unique_name: Names) -> None:
    web, db = unique_name("web"), unique_name("db")
    services = tmp_path / "services.toml"
    services.write_text(
        f"[services.{db}]\nimage = '{IMAGE}'\nports = ['8080']\n"
        f"[services.{web}]\nimage = '{IMAGE}'\nports = ['8080']\ndepends_on = ['{db}']\n"
    )
    argv = [sys.executable, "-m", "oblako_backends.cli", "up", str(services)]
    ups = [subprocess.Popen(argv, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    ups.append(subprocess.Popen(argv, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        said = [up.communicate(timeout=180) for up in ups]
        assert [up.returncode for up in ups] == [0, 0], said
        names = sorted(d.container_name for d in load(services).services)
        assert sorted(c.name for c in backend.list() if c.name in names) == names  # one container each
        assert all(backend.status(name) == RUNNING for name in names)
    finally:
        assert cli(["down", str(services)]) == 0


def test_a_start_that_loses_the_race_for_the_projects_network_uses_the_winners(
    backend: Backend, unique_name: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start on another host (so not taking turns through this host's lock) creates the network
    between this one's look-up and its create. Podman then refuses the second create, Docker makes
    a second network of the name; either way this start reports it did not create it, and the one
    network left is the winner's."""
    project = unique_name("netrace").lower()
    network = f"{project}_default"
    client = backend.docker_client()
    plugin = backend.plugin
    look_up = plugin._networks_named
    winner: list[str] = []

    def the_other_start_is_quicker(name: str) -> list[object]:
        if not winner:
            labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, PROJECT_LABEL: project}
            winner.append(client.networks.create(name, driver="bridge", labels=labels).id)
            return []
        return look_up(name)

    monkeypatch.setattr(plugin, "_networks_named", the_other_start_is_quicker)
    try:
        assert backend.create_network(network, project) is False
        assert [n.id for n in client.networks.list(names=[network]) if n.name == network] == winner
        assert plugin.network_id(network) == winner[0]
    finally:
        monkeypatch.undo()
        backend.remove_network(network, project)
    assert not [n for n in client.networks.list(names=[network]) if n.name == network]


CREATE_NETWORK = """
import sys
from oblako_backends import get_backend
backend = get_backend()
backend.list()  # connected before the word to go
print("ready", flush=True)
sys.stdin.readline()
print(backend.create_network(sys.argv[1], sys.argv[2]), flush=True)
"""


def test_processes_creating_one_network_at_once_leave_one_network_and_one_creator(
    backend: Backend, unique_name: Names
) -> None:
    project = unique_name("netrush").lower()
    network = f"{project}_default"
    argv = [sys.executable, "-c", CREATE_NETWORK, network, project]
    rush = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    client = backend.docker_client()
    try:
        assert all(p.stdout is not None and p.stdout.readline() == "ready\n" for p in rush)
        started = int(time.time())
        for p in rush:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        said = sorted(p.communicate(timeout=60)[0].strip() for p in rush)
        assert [p.returncode for p in rush] == [0, 0, 0, 0]
        assert said == ["False", "False", "False", "True"]
        assert len([n for n in client.networks.list(names=[network]) if n.name == network]) == 1
        if backend.name == "podman":  # the engine refuses a second network of one name itself
            with pytest.raises(docker.errors.APIError, match="already"):
                client.networks.create(network, driver="bridge")
        else:  # Docker Engine would make one per process: they took turns, so it made one, ever
            events = client.events(since=started, until=int(time.time()) + 1, filters={"type": "network"}, decode=True)
            made = [e for e in events if e.get("Action") == "create" and e["Actor"]["Attributes"]["name"] == network]
            assert len(made) == 1
    finally:
        for p in rush:
            p.kill()
        backend.remove_network(network, project)


def test_two_files_with_the_same_service_names_run_side_by_side(backend: Backend, tmp_path: Path) -> None:
    """Two checkouts (or worktrees, or CI jobs) of one project on one host: each directory is
    its own project, so `up` of one never replaces the other's containers, nor `down` removes them."""
    files = []
    for checkout in ("checkout-a", "checkout-b"):
        (tmp_path / checkout).mkdir()
        path = tmp_path / checkout / "services.toml"
        path.write_text(
            f"[services.web]\nimage = '{IMAGE}'\ncommand = ['sh', '-c', \"echo from {checkout}; {FOREVER}\"]\n"
        )
        files.append(path)
    try:
        for path in files:
            assert cli(["up", str(path)]) == 0
        assert backend.status("checkout-a-web-1") == RUNNING and backend.status("checkout-b-web-1") == RUNNING
        assert "from checkout-a" in backend.logs("checkout-a-web-1") and "from checkout-b" in backend.logs(
            "checkout-b-web-1"
        )
        assert {c.project for c in backend.list() if c.name.endswith("-web-1")} >= {"checkout-a", "checkout-b"}
        assert cli(["down", str(files[0])]) == 0
        assert backend.status("checkout-a-web-1") == ABSENT and backend.status("checkout-b-web-1") == RUNNING
    finally:
        for path in files:
            cli(["down", str(path)])


def test_project_logs_prefix_each_line_with_its_service(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "services.toml"
    path.write_text(
        f"[services.web]\nimage = '{IMAGE}'\ncommand = ['sh', '-c', \"echo web-line; {FOREVER}\"]\n"
        f"[services.db]\nimage = '{IMAGE}'\ncommand = ['sh', '-c', \"echo db-line; {FOREVER}\"]\n"
    )
    try:
        assert cli(["up", str(path), "-p", "logsproj"]) == 0
        capsys.readouterr()
        from oblako_backends.testing.contract import wait_for

        wait_for(lambda: "db-line" in backend.logs("logsproj-db-1"), "db's line")
        wait_for(lambda: "web-line" in backend.logs("logsproj-web-1"), "web's line")
        assert cli(["logs", "--project", "logsproj"]) == 0
        assert capsys.readouterr().out.splitlines() == ["db  | db-line", "web | web-line"]
        assert cli(["logs", "--file", str(path), "-p", "logsproj", "web"]) == 0
        assert capsys.readouterr().out.splitlines() == ["web | web-line"]
        assert cli(["logs", "--project", "logsproj", "cache"]) == 1
        assert "no service 'cache' in project 'logsproj' (its services here: db, web)" in capsys.readouterr().err
        follow = subprocess.Popen(
            [sys.executable, "-m", "oblako_backends.cli", "logs", "-f", "--project", "logsproj"],
            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert follow.stdout is not None
            seen = {follow.stdout.readline().strip(), follow.stdout.readline().strip()}
            assert seen == {"db  | db-line", "web | web-line"}
        finally:
            follow.terminate()
            follow.wait(timeout=30)
    finally:
        assert cli(["down", str(path), "-p", "logsproj"]) == 0
