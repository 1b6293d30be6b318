"""Interrupts and faults on the Docker-API backends, on real engines.

A wedged engine is a real one stopped with SIGSTOP (and always continued afterwards); a
crashed one is a private dockerd killed with SIGKILL. Nothing here is simulated but the
moment a caller dies between create and start.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import runtimes
from oblako_backends import ABSENT, RUNNING, RuntimeUnavailableError, Service, get_backend
from oblako_backends.backend import Backend
from oblako_backends.project import load
from oblako_backends.testing import contract

IMAGE = runtimes.TEST_IMAGE
Names = Callable[[str], str]
FOREVER = "trap 'exit 0' TERM; sleep 600 & wait"
QUICK = "4"  # OBLAKO_TIMEOUT for these tests: how long a wedged engine may hold a call


@pytest.fixture
def engine_pid(engine: runtimes.Engine) -> int:
    """The PID of the engine process behind `engine` (dockerd, or Podman's API service)."""
    if engine.daemon.pid <= 0 and not os.environ.get("CI"):  # a Docker the machine runs is never frozen
        pytest.skip("these tests freeze the engine, so they run only on one the harness started")
    assert engine.daemon.pid > 0, "these tests freeze the engine, so they need one the harness started"
    return engine.daemon.pid


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The engine stopped with SIGSTOP: it holds every connection and answers nothing."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def cli_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "oblako_backends.cli", *args]
    return subprocess.Popen(
        argv, env=env or dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


class Output:
    """Everything a process writes to one pipe, read by one thread, so nothing is missed
    whatever order the lines come in; `wait_for(text)` is a readiness check on it."""

    def __init__(self, stream: object):
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.ended = threading.Event()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        self.ended.set()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        with self.changed:
            found = self.changed.wait_for(lambda: any(text in line for line in self.lines), timeout)
        assert found, f"never saw {text!r}; got {''.join(self.lines)!r}"

    def finish(self, timeout: float = 10) -> str:
        """All of it, once the process has closed the pipe."""
        assert self.ended.wait(timeout), "the pipe was never closed"
        with self.changed:
            return "".join(self.lines)


def services_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "services.toml"
    path.write_text(body)
    return path


def container(path: Path, service: str) -> str:
    """The container `up` makes for `service` of the file at `path` (`<project>-<service>`)."""
    (found,) = [d.container_name for d in load(path).services if d.name == service]
    return found


# -- 3. Ctrl-C during up ---------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_up_stops_what_it_started_and_exits_130(
    backend: Backend, tmp_path: Path, unique_name: Names, sig: signal.Signals
) -> None:
    ready, waiting = unique_name("ready"), unique_name("waiting")
    path = services_file(
        tmp_path,
        f"[services.{ready}]\nimage = '{IMAGE}'\nports = ['8080']\n"
        f"[services.{waiting}]\nimage = '{IMAGE}'\ncommand = ['sh', '-c', \"{FOREVER}\"]\n"
        "health = { log = 'a line that never comes', timeout = 120 }\n",
    )
    up = cli_process("up", str(path))
    try:
        err_out = Output(up.stderr)
        err_out.wait_for(f"[{waiting}] started; waiting until ready")
        assert backend.status(container(path, waiting)) == RUNNING
        up.send_signal(sig)
        up.wait(timeout=10)  # the whole cleanup is bounded
        err = err_out.finish()
    finally:
        up.kill()
    assert up.returncode == 130, err
    assert "interrupted; stopped" in err and ready in err and waiting in err
    assert backend.status(container(path, ready)) == ABSENT and backend.status(container(path, waiting)) == ABSENT


def holds_open(pid: int, path: Path) -> bool:
    """Has process `pid` opened `path` (it is waiting for the lock on it)?"""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # a descriptor closed while we looked
        return False


def test_ctrl_c_while_up_waits_for_another_ups_network_lock_ends_it_at_once(
    backend: Backend, engine: runtimes.Engine, tmp_path: Path, unique_name: Names
) -> None:
    """The wait for the project network's lock (another `up` of the same project holds it)
    used to ignore Ctrl-C until OBLAKO_TIMEOUT; nothing has started then, so it ends at once."""
    from oblako_backend_docker import host_lock

    service = unique_name("locked")
    path = services_file(tmp_path, f"[services.{service}]\nimage = '{IMAGE}'\n")
    network = load(path).network
    key = f"{backend.plugin.url} network {network}"
    directory = host_lock.lock_directory()
    assert directory is not None, "this user has a private lock directory"
    lock = directory / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"
    with host_lock.held(key, 5):
        up = cli_process("up", str(path))
        try:
            contract.wait_for(lambda: holds_open(up.pid, lock), "up to wait for the network lock", timeout=30)
            up.send_signal(signal.SIGINT)
            up.wait(timeout=10)  # not OBLAKO_TIMEOUT
            err = up.stderr.read() if up.stderr else ""
        finally:
            up.kill()
    assert up.returncode == 130, err
    assert "interrupted before any service started" in err and "Traceback" not in err
    assert backend.status(container(path, service)) == ABSENT


def test_a_second_ctrl_c_removes_at_once_without_the_graceful_stop(
    backend: Backend, tmp_path: Path, unique_name: Names
) -> None:
    stubborn = unique_name("stubborn")  # ignores SIGTERM: a graceful stop would take its whole grace
    path = services_file(
        tmp_path,
        f"[services.{stubborn}]\nimage = '{IMAGE}'\n"
        "command = ['sh', '-c', \"trap '' TERM; echo up; while true; do sleep 1; done\"]\n"
        "health = { log = 'a line that never comes', timeout = 120 }\n",
    )
    up = cli_process("up", str(path))
    try:
        err_out = Output(up.stderr)
        err_out.wait_for(f"[{stubborn}] started; waiting until ready")
        up.send_signal(signal.SIGINT)
        err_out.wait_for("Ctrl-C again: remove at once")
        second = time.monotonic()
        up.send_signal(signal.SIGINT)
        up.wait(timeout=10)
        after_second = time.monotonic() - second
    finally:
        up.kill()
    assert up.returncode == 130
    assert backend.status(container(path, stubborn)) == ABSENT
    from oblako_backends.project.run import INTERRUPT_GRACE

    assert after_second < INTERRUPT_GRACE  # it did not sit out the graceful stop of a TERM-ignoring service


def test_two_ctrl_cs_end_up_promptly_on_a_frozen_engine_and_say_what_may_still_run(
    backend: Backend, tmp_path: Path, unique_name: Names, engine_pid: int
) -> None:
    """With the engine frozen, every stop and remove would wait out OBLAKO_TIMEOUT (three
    SIGINTs and a SIGTERM once took 69 s). A second Ctrl-C ends the command within the
    interrupt's own bounds, and says truthfully what may still be running."""
    from oblako_backends.cli import main as cli
    from oblako_backends.project.run import INTERRUPT_GRACE

    waiting = unique_name("frozen")
    path = services_file(
        tmp_path,
        f"[services.{waiting}]\nimage = '{IMAGE}'\ncommand = ['sh', '-c', \"{FOREVER}\"]\n"
        "health = { log = 'a line that never comes', timeout = 120 }\n",
    )
    up = cli_process("up", str(path), env={**os.environ, "OBLAKO_TIMEOUT": "60"})
    try:
        err_out = Output(up.stderr)
        err_out.wait_for(f"[{waiting}] started; waiting until ready")
        with frozen(engine_pid):
            up.send_signal(signal.SIGINT)
            err_out.wait_for("Ctrl-C again: remove at once")
            up.send_signal(signal.SIGINT)
            up.wait(timeout=INTERRUPT_GRACE + 10)  # far below OBLAKO_TIMEOUT, and INTERRUPT_WAIT is skipped
            err = err_out.finish()
    finally:
        up.kill()
    assert up.returncode == 130, err
    assert "nothing had started" not in err, err
    assert "could NOT stop" in err and waiting in err and "oblako-backends down" in err, err
    assert cli(["down", str(path)]) == 0


# -- 4. up never reports a cleanup it did not do ---------------------------------------------------


def test_a_failed_up_whose_cleanup_fails_names_what_is_still_running(
    backend: Backend, tmp_path: Path, unique_name: Names, engine_pid: int
) -> None:
    good, doomed = unique_name("good"), unique_name("doomed")
    path = services_file(
        tmp_path,
        f"[services.{good}]\nimage = '{IMAGE}'\ncommand = ['sh', '-c', \"{FOREVER}\"]\n"
        f"[services.{doomed}]\nimage = '{IMAGE}'\ncommand = ['sh', '-c', \"{FOREVER}\"]\n"
        "health = { log = 'a line that never comes', timeout = 120 }\n",
    )
    env = {**os.environ, "OBLAKO_TIMEOUT": QUICK, "OBLAKO_PROBE_TIMEOUT": "2"}
    up = cli_process("up", str(path), env=env)
    try:
        err_out = Output(up.stderr)
        err_out.wait_for(f"[{doomed}] started; waiting until ready")
        err_out.wait_for(f"[{good}] ready")
        with frozen(engine_pid):  # the readiness poll fails, and so does every stop of the cleanup
            up.wait(timeout=60)
        err = err_out.finish()
    finally:
        up.kill()
    assert up.returncode == 1, err
    assert "everything was stopped again" not in err
    assert "could NOT stop" in err and good in err and doomed in err and "oblako-backends down" in err
    # What it said is true: both are still there, running.
    assert backend.status(container(path, good)) == RUNNING and backend.status(container(path, doomed)) == RUNNING
    from oblako_backends.cli import main as cli

    assert cli(["down", str(path)]) == 0


# -- 5. a start interrupted between create and start -----------------------------------------------


def test_a_container_left_created_but_never_started_is_repaired_by_the_next_start(
    engine: runtimes.Engine, unique_name: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBLAKO_TIMEOUT", QUICK)
    backend = get_backend(engine.backend)
    svc = Service("orphan", IMAGE, backend=backend, container_name=unique_name("orphan"), command=["sh", "-c", FOREVER])
    plugin = backend.plugin
    # The first half of the backend's own run: create, then the caller dies before start.
    plugin.api.create_container(**plugin._create_args(svc.spec.owned_by(backend.name, svc.name)))
    info = backend.inspect(svc.container_name)
    assert info is not None and info.state != RUNNING and info.starting
    try:
        assert svc.start() is True  # no error: the orphan is replaced once no start can still own it
        assert svc.status().state == RUNNING
        assert [c.name for c in backend.list()].count(svc.container_name) == 1
    finally:
        svc.stop()


# -- 6. a wedged or crashed engine never hangs logs -f ---------------------------------------------


def test_following_logs_of_a_frozen_engine_ends_with_an_error_in_time(
    engine: runtimes.Engine, engine_pid: int, unique_name: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBLAKO_TIMEOUT", QUICK)
    backend = get_backend(engine.backend)
    name = unique_name("quiet")
    backend.run(name=name, image=IMAGE, command=["sh", "-c", f"echo only-line; {FOREVER}"])
    try:
        stream = backend.follow_logs(name, tail=10)
        assert next(stream) == "only-line"
        with frozen(engine_pid):
            outcome = contract.read_rest(stream, timeout=float(QUICK) + 1)
        assert isinstance(outcome, RuntimeUnavailableError), outcome or "still blocked"
        assert name in str(outcome)
    finally:
        backend.remove(name)


def test_logs_f_on_a_frozen_engine_exits_1_in_time(backend: Backend, engine_pid: int, unique_name: Names) -> None:
    name = unique_name("quiet-cli")
    backend.run(name=name, image=IMAGE, command=["sh", "-c", f"echo only-line; {FOREVER}"])
    follow = cli_process("logs", "-f", name, env={**os.environ, "OBLAKO_TIMEOUT": QUICK})
    try:
        Output(follow.stdout).wait_for("only-line")
        with frozen(engine_pid):
            follow.wait(timeout=float(QUICK) + 2)
        assert follow.stderr is not None
        err = follow.stderr.read()
    finally:
        follow.kill()
        backend.remove(name)
    assert follow.returncode == 1 and "not reachable" in err and "Traceback" not in err


@pytest.mark.runtime
def test_following_logs_when_the_engine_is_killed_is_an_error_not_an_end() -> None:
    """kill -9 of the engine closes the stream: that must read as an error, never as "the
    container exited". The engine is a private Podman API service: its containers outlive it
    by design, so a new service on the same storage can remove them afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="oblako-crash-"))
    daemon = runtimes.start_podman(directory)
    try:
        runtimes.build_test_image(daemon.url)
        env = {**os.environ, "CONTAINER_HOST": daemon.url, "OBLAKO_CONTAINER_BACKEND": "podman"}
        backend = get_backend("podman", base_url=daemon.url, timeout=float(QUICK))
        backend.run(name="crash-follow", image=IMAGE, command=["sh", "-c", f"echo only-line; {FOREVER}"])
        stream = backend.follow_logs("crash-follow", tail=10)
        assert next(stream) == "only-line"
        follow = cli_process("logs", "-f", "crash-follow", env=env)
        Output(follow.stdout).wait_for("only-line")
        os.kill(daemon.pid, signal.SIGKILL)
        follow.wait(timeout=30)
        assert follow.stderr is not None
        err = follow.stderr.read()
        assert follow.returncode == 1 and "not reachable" in err, err
        with pytest.raises(RuntimeUnavailableError):
            list(stream)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon.pid, signal.SIGKILL)
        (directory / "daemon.pid").unlink(missing_ok=True)
        again = runtimes.start_podman(directory)
        try:
            runtimes.remove_all_containers(again.url)
        finally:
            again.stop()
            shutil.rmtree(directory, ignore_errors=True)
