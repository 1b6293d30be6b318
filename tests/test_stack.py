"""Services files: every mistake is refused before a runtime is touched, naming file, service and key."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from oblako_backends import ConfigurationError, get_backend
from oblako_backends.cli import main as cli
from oblako_backends.project import load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "services.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[services.web]\nports = ['80']\n", r"services.web: image: required"),
        ("[services.web]\nimage = 'x:1'\nport = ['80']\n", r"services.web: port: unknown key"),
        ("[services.web]\nimage = 'x:1'\nports = '80'\n", r"ports: expected a list"),
        ("[services.web]\nimage = 'x:1'\nports = ['web:80']\n", r"services.web: invalid ports 'web:80'"),
        ("[services.web]\nimage = 'Not An Image'\n", r"services.web: invalid image"),
        ("[services.web]\nimage = 'x:1'\nhealth = { http = '/' }\n", r"published tcp ports \[\]"),
        ("[services.web]\nimage = 'x:1'\nhealth = { tcp = 80, log = 'x' }\n", "exactly one of http, tcp or log"),
        ("[services.web]\nimage = 'x:1'\nhealth = { log = 'x', timeout = 0 }\n", "timeout must be a finite, positive"),
        ("[services.web]\nimage = 'x:1'\ndepends_on = ['db']\n", r"depends_on: no service named 'db'"),
        (
            "[services.a]\nimage = 'x:1'\ndepends_on = ['b']\n[services.b]\nimage = 'x:1'\ndepends_on = ['a']\n",
            "depends_on forms a cycle",
        ),
        ("[services.web]\nimage = 'x:1'\nbuild = 'nowhere'\n", r"build: .*nowhere has no Dockerfile"),
        ("[services.'bad name']\nimage = 'x:1'\n", r"services.bad name: invalid service name"),
        ("services = 1\n", "no services"),
        ("[service.web]\nimage = 'x:1'\n", r"unknown top-level keys \['service'\]"),
        ("[services.web\nimage = 'x:1'\n", "is not valid TOML"),
    ],
)
def test_mistakes_are_refused_with_where_they_are(tmp_path: Path, text: str, complaint: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=complaint) as raised:
        load(path)
    assert str(path) in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="can't read the services file .*nope.toml"):
        load(tmp_path / "nope.toml")


def test_waves_start_dependencies_first_and_the_rest_together(tmp_path: Path) -> None:
    stack = load(
        write(
            tmp_path,
            "[services.app]\nimage = 'x:1'\ndepends_on = ['db', 'cache']\n"
            "[services.db]\nimage = 'x:1'\n[services.cache]\nimage = 'x:1'\n"
            "[services.worker]\nimage = 'x:1'\ndepends_on = ['db']\n",
        )
    )
    assert [[d.name for d in wave] for wave in stack.waves()] == [["db", "cache"], ["app", "worker"]]


def test_the_cli_exits_2_on_a_bad_file_without_touching_a_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = get_backend("memory")
    monkeypatch.setattr("oblako_backends.plugins.get_backend", lambda name=None: backend)
    calls: list[str] = []
    backend._pm.add_hookcall_monitoring(lambda hook, impls, kw: calls.append(hook), lambda *a: None)
    path = write(tmp_path, "[services.web]\nimage = 'x:1'\nports = ['web:80']\n")
    assert cli(["up", "--backend", "memory", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oblako-backends: ") and "web:80" in err and len(err.strip().splitlines()) == 1
    assert calls == []


def test_the_project_comes_from_p_then_the_environment_then_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBLAKO_PROJECT", raising=False)
    directory = tmp_path / "My Shop_2.0"
    directory.mkdir()
    path = write(directory, "[services.web]\nimage = 'x:1'\n")
    assert load(path).name == "myshop_20"  # lower-cased, other characters dropped, as Compose does
    assert load(path).services[0].container_name == "myshop_20-web-1"
    monkeypatch.setenv("OBLAKO_PROJECT", "from-env")
    assert load(path).name == "from-env"
    assert load(path, project="given").name == "given"


@pytest.mark.parametrize("bad", ["Upper", "-dash", "has space", "x" * 64, "dot.ted", ""])
def test_a_bad_project_name_exits_2_naming_where_it_came_from(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[services.web]\nimage = 'x:1'\n")
    assert cli(["up", "--backend", "memory", f"--project={bad}", str(path)]) == 2
    assert "-p/--project" in capsys.readouterr().err
    monkeypatch.setenv("OBLAKO_PROJECT", bad or "Bad")
    assert cli(["down", "--backend", "memory", str(path)]) == 2
    assert "OBLAKO_PROJECT" in capsys.readouterr().err


def test_a_directory_name_with_nothing_usable_asks_for_p(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBLAKO_PROJECT", raising=False)
    directory = tmp_path / "__"
    directory.mkdir()
    with pytest.raises(ConfigurationError, match="name one with -p NAME or OBLAKO_PROJECT"):
        load(write(directory, "[services.web]\nimage = 'x:1'\n"))


def test_a_project_never_stops_a_same_named_container_of_another_project() -> None:
    from oblako_backends import NotOwnedError, Service

    backend = get_backend("memory")
    theirs = Service("web", "busybox", backend=backend, container_name="shop-web", project="shop")
    theirs.start()
    ours = Service("web", "busybox", backend=backend, container_name="shop-web", project="other")
    with pytest.raises(NotOwnedError, match="belongs to project 'shop'"):
        ours.stop()
    with pytest.raises(NotOwnedError, match="belongs to project 'shop'"):
        ours.start()
    assert backend.status("shop-web") == "running" and backend.inspect("shop-web").project == "shop"  # type: ignore[union-attr]


def test_up_and_down_take_the_file_as_f_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[services.web]\nimage = 'x:1'\n")
    assert cli(["up", "--backend", "memory", "-f", str(path), "-p", "demo"]) == 0
    assert "demo-web" in capsys.readouterr().out
    assert cli(["up", "--backend", "memory", str(path), "-f", str(path)]) == 2
    assert cli(["down", "--backend", "memory"]) == 2
    assert "which services file" in capsys.readouterr().err


def test_config_prints_the_normalised_project_without_any_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import yaml

    monkeypatch.setenv("OBLAKO_CONTAINER_BACKEND", "no-such-backend")  # config must not load one
    path = write(
        tmp_path,
        "[services.db]\nimage = 'x:1'\nvolumes = ['db-data:/data']\nenv = { PASSWORD = 's3cret' }\n"
        "[services.web]\nimage = 'y:1'\nports = ['8080:80']\ndepends_on = ['db']\ncommand = 'serve --port 80'\n",
    )
    assert cli(["config", "-p", "shop", str(path)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["name"] == "shop" and printed["volumes"] == {"db-data": {"name": "db-data"}}
    web, db = printed["services"]["web"], printed["services"]["db"]
    assert "container_name" not in web and web["command"] == ["serve", "--port", "80"]
    assert web["ports"] == [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]  # as Compose
    assert web["depends_on"] == {"db": {"condition": "service_healthy", "required": True}}  # up waits for it
    assert db["environment"] == {"PASSWORD": "***"}  # a secret, unless asked for
    assert db["volumes"] == [{"type": "volume", "source": "db-data", "target": "/data", "volume": {}}]
    assert cli(["config", "-p", "shop", "--json", "--show-environment", str(path)]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["services"]["db"]["environment"] == {"PASSWORD": "s3cret"}
    assert {k: v for k, v in as_json.items() if k != "services"} == {
        k: v for k, v in printed.items() if k != "services"
    }


class _InFlight:
    """Counts the calls of one method in flight, and holds each until the command has started
    every thread it will (the calling thread waits on them) and each of those that still has work
    is inside a call: the peak is then the most that command ever runs at once, observed, not timed."""

    def __init__(self, total: int) -> None:
        self.total, self.peak, self.now, self.done = total, 0, 0, 0
        self.before = set(threading.enumerate())
        self.caller = threading.get_ident()
        self.changed = threading.Condition()

    def _workers(self) -> int:
        return sum(1 for t in threading.enumerate() if t not in self.before and t.is_alive())

    def _caller_waits(self) -> bool:
        """The calling thread is blocked waiting for its workers, not starting one."""
        frame, names = sys._current_frames().get(self.caller), []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        return bool(names) and names[0] in ("wait", "_wait_for_tstate_lock") and "start" not in names

    def _all_in(self) -> bool:
        return self._caller_waits() and self.now >= min(self._workers(), self.total - self.done)

    def wrap(self, method: Any) -> Any:
        def held(service: Any, *args: Any, **kwargs: Any) -> Any:
            with self.changed:
                self.now += 1
                self.peak = max(self.peak, self.now)
                self.changed.notify_all()
                end = time.monotonic() + 30  # a deadline against a hang, never reached when it works
                while not self._all_in():  # a poll, not a sleep: a worker out of work ends silently
                    assert time.monotonic() < end, f"{self.now} in flight, {self._workers()} workers"
                    self.changed.wait(0.01)
            try:
                return method(service, *args, **kwargs)
            finally:
                with self.changed:
                    self.now -= 1
                    self.done += 1
                    self.changed.notify_all()

        return held


def test_up_and_down_run_at_most_the_default_number_of_services_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oblako_backends import Service, config
    from oblako_backends.project.run import down, up

    monkeypatch.delenv("OBLAKO_JOBS", raising=False)
    count = config.DEFAULT_JOBS + 3  # one wave, more services than the bound
    path = write(tmp_path, "".join(f"[services.s{i}]\nimage = 'x:1'\n" for i in range(count)))
    backend = get_backend("memory")
    stack = load(path, project="bounded")
    starts, stops = _InFlight(count), _InFlight(count)
    monkeypatch.setattr(Service, "start", starts.wrap(Service.start))
    monkeypatch.setattr(Service, "stop", stops.wrap(Service.stop))
    with pytest.warns(UserWarning, match="service names do not resolve"):
        outcomes = up(stack, backend)
    assert all(o.started and not o.error for o in outcomes) and len(outcomes) == count
    assert starts.peak == config.DEFAULT_JOBS  # the bound, reached and never passed
    stops.before = set(threading.enumerate())
    assert down(stack, backend) == {}
    assert stops.peak == config.DEFAULT_JOBS
    assert [c.name for c in get_backend("memory").list() if c.project == "bounded"] == []


def test_jobs_and_oblako_jobs_set_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oblako_backends import Service
    from oblako_backends.project.run import up

    path = write(tmp_path, "".join(f"[services.s{i}]\nimage = 'x:1'\n" for i in range(5)))
    for env, jobs, expected in [("3", None, 3), ("3", 2, 2)]:
        monkeypatch.setenv("OBLAKO_JOBS", env)
        stack = load(path, project=f"jobs{expected}")
        starts = _InFlight(5)
        monkeypatch.setattr(Service, "start", starts.wrap(Service.start))
        with pytest.warns(UserWarning):
            up(stack, get_backend("memory"), jobs=jobs)
        assert starts.peak == expected
        monkeypatch.undo()


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", "٣"])
def test_a_bad_oblako_jobs_is_refused_naming_it_before_anything_is_made(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = get_backend("memory")
    monkeypatch.setattr("oblako_backends.plugins.get_backend", lambda name=None: backend)
    calls: list[str] = []
    backend._pm.add_hookcall_monitoring(lambda hook, impls, kw: calls.append(hook), lambda *a: None)
    monkeypatch.setenv("OBLAKO_JOBS", bad)
    assert cli(["up", "--backend", "memory", str(write(tmp_path, "[services.web]\nimage = 'x:1'\n"))]) == 2
    assert "OBLAKO_JOBS" in capsys.readouterr().err
    assert set(calls) <= {"oblako_list"}  # `up` asks whether the runtime answers, and makes nothing


def test_a_container_seen_in_a_listing_is_checked_as_one_looked_up_before_it_is_stopped() -> None:
    import dataclasses

    from oblako_backends import NotOwnedError, Service

    backend = get_backend("memory")
    Service("web", "busybox", backend=backend, container_name="shop-web", project="shop").start()
    (seen,) = backend.list()
    assert seen.id  # each container's own, as an engine's listing has them
    with pytest.raises(NotOwnedError, match="belongs to project 'shop'"):
        backend.stop("shop-web", project="other", seen=seen)
    assert backend.status("shop-web") == "running"
    not_ours = dataclasses.replace(seen, labels={})
    with pytest.raises(NotOwnedError, match="was not created by oblako-backends"):
        backend.stop("shop-web", project="shop", seen=not_ours)
    assert backend.stop("shop-web", project="shop", seen=seen) == seen
    assert backend.status("shop-web") == "absent"


def test_down_stops_by_the_id_it_listed_so_a_container_made_since_under_that_name_stays(tmp_path: Path) -> None:
    """The race `down`'s one listing opens: between the listing and the stop, the project's
    container is removed and someone else's made under its name. Only the listed one is stopped."""
    from oblako_backends.project import load
    from oblako_backends.project.run import down, up

    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web:\n    image: busybox\n")
    project, backend = load(str(path), "shop"), get_backend("memory")
    with pytest.warns(UserWarning, match="service names do not resolve"):
        up(project, backend)
    listed = backend.list()
    assert [i.name for i in listed] == ["shop-web-1"]
    backend.plugin.oblako_remove("shop-web-1")
    backend.plugin.add_foreign("shop-web-1")  # not this layer's: never to be stopped by it
    assert down(project, backend, listed=listed) == {}
    assert backend.plugin.oblako_inspect("shop-web-1") is not None  # the other one is still there


def test_a_backend_that_stops_by_name_only_is_looked_up_again_not_trusted_to_a_listing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An `oblako_stop` without `container_id` (a third-party backend written before it) stops by
    name: so the container is checked afresh, and a stale listing cannot make it stop another."""
    import dataclasses

    from oblako_backends import NotOwnedError, Service
    from oblako_backends.testing.memory import MemoryPlugin

    def stop_by_name(self: MemoryPlugin, name: str, timeout: float) -> None:
        self.oblako_remove(name)

    backend = get_backend("memory")
    (hook,) = backend._pm.hook.oblako_stop.get_hookimpls()
    monkeypatch.setattr(hook, "argnames", ("name", "timeout"))
    monkeypatch.setattr(hook, "function", stop_by_name.__get__(hook.plugin))
    Service("web", "busybox", backend=backend, container_name="shop-web", project="shop").start()
    (seen,) = backend.list()
    backend.plugin.oblako_remove("shop-web")
    backend.plugin.add_foreign("shop-web")
    with pytest.raises(NotOwnedError, match="was not created by oblako-backends"):
        backend.stop("shop-web", project="shop", seen=dataclasses.replace(seen))
    assert backend.plugin.oblako_inspect("shop-web") is not None
