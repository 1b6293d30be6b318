"""The backend contract as importable tests: what every backend must do, on its real runtime.

Run it against an installed backend:

    pytest --pyargs oblako_backends.testing.contract --oblako-backend NAME --oblako-test-image REF

or subclass the ``*Contract`` classes in your own test module (import the module, not the
``Test*`` class at the bottom, or pytest collects that one too):

    from oblako_backends.testing import contract

    class TestMine(contract.ContainerContract, contract.ServiceContract, contract.OptionalContract):
        pass

Every container the suite starts keeps running until stopped, as services do (a runtime
such as Kubernetes restarts one that exits). Fixtures (from the ``oblako`` pytest plugin):
`oblako_backend` (override it to build your backend yourself), `oblako_test_image`,
`oblako_name`, `oblako_make_unowned` and `oblako_process_env` (the environment in which a
fresh process's `get_backend()` finds the same backend and runtime; override it when your
`oblako_backend` passes options). The test image needs busybox's sh, httpd and sleep.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..backend import Backend
from ..errors import InvalidSpecError, NotOwnedError, OblakoBackendError, PortInUseError
from ..models import ABSENT, CAPABILITIES, RUNNING, ContainerInfo, Health, State, epoch_seconds
from ..options import FileSpec
from ..service import Service, http_check
from ..spec import BuildSpec, HealthCommand

Names = Callable[[str], str]
# Runs until stopped, and stops at once on SIGTERM (a bare `sleep` as PID 1 ignores it).
FOREVER = 'trap "exit 0" TERM; sleep 600 & wait'
# Ends at once on SIGTERM, as FOREVER does (a shell or httpd as PID 1 ignores it, and a stop
# would wait out its whole grace period).
SERVE = (
    'trap "exit 0" TERM; '
    "mkdir -p /tmp/www && echo contract-ok > /tmp/www/index.html && httpd -f -p 8080 -h /tmp/www & wait"
)
DEADLINE = 60.0
THREADS, PROCESSES = 8, 4
RACER = f"sh -c 'echo racer-started; {FOREVER}'"
# The container's memory and process limits, from cgroup v2 (most machines) or v1 (older ones).
# The container's own cgroup limits, as cgroups v2 (else v1) shows them inside it.
MEMORY_LIMIT = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
PIDS_LIMIT = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"
CPU_QUOTA = (  # "QUOTA PERIOD" in microseconds
    "cat /sys/fs/cgroup/cpu.max 2>/dev/null || "
    "echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
)
_RUNNING = ContainerInfo(name="running", state=State.RUNNING)  # what "not ended yet" looks like


def wait_for(check: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll until `check()` holds: a readiness loop with a deadline."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def read_rest(stream: Iterable[str], timeout: float) -> list[str] | BaseException | None:
    """Read `stream` to its end in another thread: the lines, the exception that ended it, or
    None when it is still blocked after `timeout` s (what a hang looks like)."""
    outcome: list[list[str] | BaseException] = []

    def read() -> None:
        try:
            outcome.append(list(stream))
        except BaseException as exc:  # what ended the iteration is the result
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return outcome[0] if outcome else None


def fetch(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as response:  # noqa: S310 (http on loopback)
        return str(response.read().decode())


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class ContainerContract:
    """The container hooks, through the `Backend` facade."""

    def test_run_is_running_and_logs_show_what_it_printed(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("run")
        oblako_backend.run(name=name, image=oblako_test_image, command=f"sh -c 'echo contract-hello; {FOREVER}'")
        wait_for(lambda: "contract-hello" in oblako_backend.logs(name), "the container's first line")
        assert oblako_backend.status(name) == RUNNING
        info = oblako_backend.inspect(name)
        assert info is not None and info.owned and info.name == name

    def test_stop_leaves_it_absent(self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names) -> None:
        """Documented behaviour: stop is graceful, then removes the container."""
        name = oblako_name("stop")
        oblako_backend.run(name=name, image=oblako_test_image, command=f"sh -c '{FOREVER}'")
        oblako_backend.stop(name, timeout=10)
        assert oblako_backend.status(name) == ABSENT
        oblako_backend.stop(name)  # and again: a no-op

    def test_remove_is_idempotent(self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names) -> None:
        name = oblako_name("rm")
        oblako_backend.run(name=name, image=oblako_test_image, command=f"sh -c '{FOREVER}'")
        oblako_backend.remove(name)
        assert oblako_backend.status(name) == ABSENT
        oblako_backend.remove(name)

    def test_an_unknown_name_is_absent(self, oblako_backend: Backend, oblako_name: Names) -> None:
        name = oblako_name("never-made")
        assert oblako_backend.status(name) == ABSENT
        assert oblako_backend.inspect(name) is None
        assert oblako_backend.logs(name) == ""

    def test_env_command_and_working_dir_are_honoured(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("env")
        oblako_backend.run(
            name=name,
            image=oblako_test_image,
            environment={"GREETING": "hi there"},
            command=f"""sh -c 'echo "env=$GREETING"; echo "pwd=$(pwd)"; echo "two  spaces"; {FOREVER}'""",
            working_dir="/tmp",
        )
        wait_for(lambda: "two  spaces" in oblako_backend.logs(name), "the command's output")
        assert oblako_backend.logs(name).splitlines() == ["env=hi there", "pwd=/tmp", "two  spaces"]
        listed = oblako_name("argv")  # a list is passed as it is: no shell splits or expands it
        argv = ["sh", "-c", f'echo "$1|$2|$3"; {FOREVER}', "sh", "a b", "$HOME", "'q'"]
        oblako_backend.run(name=listed, image=oblako_test_image, command=argv)
        wait_for(lambda: "|" in oblako_backend.logs(listed), "the command's output")
        assert oblako_backend.logs(listed) == "a b|$HOME|'q'\n"

    def test_an_entrypoint_replaces_the_images_and_the_command_follows_it(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("entry")
        oblako_backend.run(
            name=name, image=oblako_test_image, entrypoint=["sh", "-c"], command=[f'echo "entry-$0"; {FOREVER}', "ok"]
        )
        wait_for(lambda: "entry-" in oblako_backend.logs(name), "the entrypoint's output")
        assert oblako_backend.logs(name) == "entry-ok\n"

    def test_logs_tail_n_gives_the_last_n_lines(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("tail")
        oblako_backend.run(
            name=name,
            image=oblako_test_image,
            command=["sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do echo l$i; done; {FOREVER}"],
        )
        wait_for(lambda: "l10" in oblako_backend.logs(name), "the output")
        assert oblako_backend.logs(name, tail=3).splitlines() == ["l8", "l9", "l10"]
        assert oblako_backend.logs(name, tail=0) == ""

    def test_a_published_port_serves_from_the_host(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        svc = Service(
            "web",
            oblako_test_image,
            backend=oblako_backend,
            container_name=oblako_name("web"),
            ports={"8080/tcp": None},
            command=f"sh -c '{SERVE}'",
            health_check=http_check(8080),
        )
        svc.start()
        svc.wait_ready(timeout=DEADLINE)
        endpoint = svc.endpoint(8080)
        assert endpoint is not None
        assert fetch(*endpoint) == "contract-ok\n"

    def test_a_port_conflict_raises_port_in_use(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("clash")
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            with pytest.raises(PortInUseError) as raised:
                oblako_backend.run(name=name, image=oblako_test_image, ports={"8080/tcp": port})
        assert raised.value.port == port and str(port) in str(raised.value)
        assert oblako_backend.status(name) == ABSENT

    def test_an_unowned_container_of_the_same_name_is_refused(
        self,
        oblako_backend: Backend,
        oblako_test_image: str,
        oblako_name: Names,
        oblako_make_unowned: Callable[[str], None],
    ) -> None:
        name = oblako_name("foreign")
        oblako_make_unowned(name)
        with pytest.raises(NotOwnedError, match=name):
            oblako_backend.stop(name)
        with pytest.raises(NotOwnedError):
            oblako_backend.remove(name)
        with pytest.raises(NotOwnedError):
            Service("x", oblako_test_image, backend=oblako_backend, container_name=name).start()
        assert oblako_backend.status(name) == RUNNING

    def test_an_invalid_spec_is_refused_before_the_runtime_is_touched(
        self, oblako_backend: Backend, oblako_test_image: str
    ) -> None:
        calls: list[str] = []
        undo = oblako_backend._pm.add_hookcall_monitoring(lambda hook, impls, kw: calls.append(hook), lambda *a: None)
        try:
            for bad in (
                lambda: oblako_backend.run(name="bad name", image=oblako_test_image),
                lambda: oblako_backend.run(name="ok", image=oblako_test_image, ports={"8080/icmp": None}),
                lambda: oblako_backend.run(name="ok", image=oblako_test_image, volumes={"rel/path": "/d"}),
                lambda: oblako_backend.status("bad/name"),
            ):
                with pytest.raises(InvalidSpecError):
                    bad()
        finally:
            undo()
        assert calls == []

    def test_the_probe_reports_reachable_engine_and_version(self, oblako_backend: Backend) -> None:
        probe = oblako_backend.probe()
        assert probe.reachable, probe.error
        assert probe.backend and probe.engine and probe.version

    def test_the_plugin_declares_what_the_core_reads_as_hookspecs_backendplugin_says(
        self, oblako_backend: Backend
    ) -> None:
        """`capabilities`: a frozenset of known names, the set the probe reports;
        `unavailable_here`, where given: a static method saying None or why, as a string."""
        plugin = oblako_backend.plugin
        declared: object = getattr(plugin, "capabilities", frozenset())
        assert isinstance(declared, frozenset), f"capabilities must be a frozenset, not {type(declared).__name__}"
        assert declared <= set(CAPABILITIES), f"unknown capabilities: {sorted(declared - set(CAPABILITIES))}"
        assert declared == oblako_backend.probe().capabilities == oblako_backend.capabilities
        here = getattr(type(plugin), "unavailable_here", None)
        if here is not None:
            said = here()
            assert said is None or (isinstance(said, str) and said), said

    def test_list_shows_exactly_the_containers_this_layer_created(
        self,
        oblako_backend: Backend,
        oblako_test_image: str,
        oblako_name: Names,
        oblako_make_unowned: Callable[[str], None],
    ) -> None:
        ours = sorted([oblako_name("a"), oblako_name("b")])
        for name in ours:
            oblako_backend.run(name=name, image=oblako_test_image, command=f"sh -c '{FOREVER}'")
        foreign = oblako_name("c")
        oblako_make_unowned(foreign)
        listed = oblako_backend.list()
        assert all(c.owned for c in listed)
        mine = [c for c in listed if c.name in (*ours, foreign)]
        assert [c.name for c in mine] == ours
        assert all(c.state == RUNNING for c in mine)


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class ServiceContract:
    """`Service` on top of the backend: idempotent and self-healing starts."""

    def test_start_is_idempotent(self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names) -> None:
        svc = Service(
            "idem",
            oblako_test_image,
            backend=oblako_backend,
            container_name=oblako_name("idem"),
            command=f"sh -c '{FOREVER}'",
        )
        assert svc.start() is True
        assert svc.start() is False
        assert svc.status().state == RUNNING

    def test_a_changed_spec_is_recreated_not_reported_as_running(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("spec")
        command = f"""sh -c 'echo "mode=$MODE"; {FOREVER}'"""

        def service(mode: str) -> Service:
            return Service(
                "db",
                oblako_test_image,
                backend=oblako_backend,
                container_name=name,
                command=command,
                environment={"MODE": mode},
            )

        service("a").start()
        wait_for(lambda: "mode=a" in oblako_backend.logs(name), "the first spec's output")
        changed = service("b")
        assert changed.start() is True
        wait_for(lambda: "mode=b" in oblako_backend.logs(name), "the changed spec's output")
        assert "mode=a" not in oblako_backend.logs(name)
        info = oblako_backend.inspect(name)
        assert info is not None and info.spec_hash == changed.spec.fingerprint()


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class RaceContract:
    """Many starts of one service at the same moment converge on one container."""

    def test_concurrent_starts_in_threads_converge_on_one_container(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("race")
        gate = threading.Barrier(THREADS)
        results: list[bool] = []
        errors: list[BaseException] = []

        def start() -> None:
            svc = Service("race", oblako_test_image, backend=oblako_backend, container_name=name, command=RACER)
            gate.wait()
            try:
                results.append(svc.start())
            except BaseException as exc:  # every failure is collected and shown
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(results) == [False] * (THREADS - 1) + [True]
        _assert_one_running(oblako_backend, name)

    def test_concurrent_starts_in_processes_converge_on_one_container(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names, oblako_process_env: dict[str, str]
    ) -> None:
        name = oblako_name("procs")
        program = (
            "import sys; from oblako_backends import Service; "
            f"svc = Service('procs', {oblako_test_image!r}, container_name={name!r}, command={RACER!r}); "
            "svc.backend; print('ready', flush=True); sys.stdin.readline(); print(svc.start(), flush=True)"
        )
        argv = [sys.executable, "-c", program]
        procs = [
            subprocess.Popen(argv, env=oblako_process_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(PROCESSES)
        ]
        try:
            for proc in procs:  # every process has imported and chosen its backend: release them together
                assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            said = [proc.communicate(timeout=DEADLINE * 2)[0].strip() for proc in procs]
        finally:
            for proc in procs:
                proc.kill() if proc.poll() is None else None
        assert [proc.returncode for proc in procs] == [0] * PROCESSES, said
        assert sorted(said) == ["False"] * (PROCESSES - 1) + ["True"]
        _assert_one_running(oblako_backend, name)


def _assert_one_running(backend: Backend, name: str) -> None:
    mine = [c for c in backend.list() if c.name == name]
    assert len(mine) == 1 and mine[0].state == RUNNING, mine
    wait_for(lambda: "racer-started" in backend.logs(name), "the winner's first line")
    assert backend.logs(name).count("racer-started") == 1  # created and started once, never replaced


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class CompatContract:
    """`oblako_backends.compat` driven exactly the way oblako's own `Service` drives it."""

    def test_compat_drives_the_backend_the_way_oblakos_service_does(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names, tmp_path: Path
    ) -> None:
        from .. import compat

        backend = compat.wrap(oblako_backend)
        name = oblako_name("compat")
        image = oblako_test_image
        if "build" in oblako_backend.capabilities:  # an image no registry has: built on failure
            image = f"localhost/oblako-compat-{name}:1"
            (tmp_path / "Dockerfile").write_text(f"FROM {oblako_test_image}\n")
        try:
            backend.ensure_image(image)
        except Exception:  # as oblako does: any pull failure -> local build
            backend.build_image(image, str(tmp_path))
        status = backend.status(name)
        assert status == compat.ABSENT and type(status) is str
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        backend.run(
            name=name,
            image=image,
            ports={"8080/tcp": port},
            environment={"GREETING": "from compat"},
            volumes={},
            extra_hosts={},
            command=f"sh -c 'echo $GREETING; {SERVE}'",
            working_dir="/tmp",
            user=None,
        )
        wait_for(lambda: backend.status(name) == compat.RUNNING, "the container to run")
        wait_for(lambda: "from compat" in backend.logs(name, tail=50), "its first line")
        wait_for(lambda: _serves("127.0.0.1", port), "its published port to serve")
        assert fetch("127.0.0.1", port) == "contract-ok\n"
        backend.stop(name)
        assert backend.status(name) == compat.ABSENT
        backend.remove(name)  # and again: a no-op


def _serves(host: str, port: int) -> bool:
    try:
        fetch(host, port)
    except OSError:
        return False
    return True


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class OptionalContract:
    """Capabilities a backend may declare in its probe; each test runs only when it does."""

    @pytest.mark.oblako_capability("follow_logs")
    def test_follow_yields_lines_as_written_and_stops_when_closed(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("follow")
        oblako_backend.run(
            name=name,
            image=oblako_test_image,
            command=[
                "sh",
                "-c",
                f"echo first; i=0; while [ $i -lt 30 ]; do sleep 0.25; i=$((i+1)); echo tick-$i; done; {FOREVER}",
            ],
        )
        wait_for(lambda: "first" in oblako_backend.logs(name), "the first line")
        stream = oblako_backend.follow_logs(name, tail=1)
        expected = ["first", *(f"tick-{i}" for i in range(1, 31))]
        seen = []
        for line in stream:
            seen.append(line)
            if line == "tick-30":
                break
        # The last line already written when the follow began, then every later one, in order
        # (a runtime may take a moment to start following, so which line comes first varies).
        assert seen and seen == expected[expected.index(seen[0]) :], seen
        assert len(seen) >= 2  # at least one line arrived as it was written
        threading.Timer(0.3, stream.close).start()
        assert list(stream) == []  # blocked on a silent container until closed from another thread

    @pytest.mark.oblako_capability("named_volumes")
    def test_a_named_volume_keeps_a_file_across_stop_and_start(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        volume = oblako_name("vol")
        command = f"sh -c 'cat /data/marker 2>/dev/null || echo no-marker; echo kept-$$ > /data/marker; {FOREVER}'"
        svc = Service(
            "data",
            oblako_test_image,
            backend=oblako_backend,
            container_name=oblako_name("data"),
            volumes={volume: {"bind": "/data", "mode": "rw"}},
            command=command,
        )
        svc.start()
        wait_for(lambda: "no-marker" in svc.logs(), "the first write")
        svc.stop()
        assert svc.status().state == ABSENT
        svc.start()
        wait_for(lambda: "kept-" in svc.logs(), "the file from the first run")
        svc.stop()
        client = oblako_backend.docker_client()
        if client is not None:  # no volume hook yet: clean up through the engine when we can
            client.volumes.get(volume).remove()

    @pytest.mark.oblako_capability("remove_volumes")
    def test_a_volume_made_here_is_labelled_kept_when_there_and_removed_with_its_data(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        volume = oblako_name("made")
        assert oblako_backend.create_volume(volume, project="contract") is True
        assert oblako_backend.create_volume(volume, project="contract") is False  # there already: untouched
        name = oblako_name("writer")
        oblako_backend.run(
            name=name, image=oblako_test_image, volumes={volume: "/data"},
            command=f"sh -c 'echo kept > /data/f; echo written; {FOREVER}'",
        )  # fmt: skip
        wait_for(lambda: "written" in oblako_backend.logs(name), "the write")
        oblako_backend.remove(name)
        with pytest.raises(NotOwnedError):
            oblako_backend.remove_volume(volume, project="another-project")
        assert oblako_backend.remove_volume(volume, project="contract") is True
        assert oblako_backend.remove_volume(volume, project="contract") is False  # gone
        reader = oblako_name("reader")
        oblako_backend.run(
            name=reader, image=oblako_test_image, volumes={volume: "/data"},
            command=f"sh -c 'cat /data/f 2>/dev/null || echo empty; {FOREVER}'",
        )  # fmt: skip
        wait_for(lambda: oblako_backend.logs(reader) != "", "the reader's line")
        assert oblako_backend.logs(reader) == "empty\n"  # the data went with the volume
        oblako_backend.remove(reader)

    @pytest.mark.oblako_capability("health")
    def test_the_containers_own_health_check_decides_when_it_is_ready(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        svc = Service(
            "checked",
            oblako_test_image,
            backend=oblako_backend,
            container_name=oblako_name("checked"),
            command=f"sh -c 'sleep 2; echo made-ok; touch /tmp/ok; {FOREVER}'",
            health=HealthCommand(("test", "-e", "/tmp/ok"), interval=1, timeout=2, retries=30),
        )
        svc.start()
        svc.wait_ready(timeout=DEADLINE)  # by the check inside the container: no port, no host-side check
        assert "made-ok" in svc.logs()  # not before the file the check looks for existed
        info = svc.info()
        assert info is not None and info.health == Health.HEALTHY
        svc.stop()

    @pytest.mark.oblako_capability("create")
    def test_a_created_container_waits_until_started_and_a_service_starts_that_one(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("create")
        command = ["sh", "-c", f"echo created-first; {FOREVER}"]
        oblako_backend.create(name=name, image=oblako_test_image, command=command)
        made = oblako_backend.inspect(name)
        assert made is not None and made.state != RUNNING and made.waiting and made.owned
        service = Service(name, oblako_test_image, backend=oblako_backend, container_name=name, command=command)
        assert service.start() is True  # the created one, started: not replaced
        wait_for(lambda: "created-first" in oblako_backend.logs(name), "its first line")
        running = oblako_backend.inspect(name)
        assert running is not None and running.state == RUNNING and not running.waiting
        assert running.created == made.created
        oblako_backend.start(name)  # running: left as it is
        assert oblako_backend.logs(name) == "created-first\n"
        oblako_backend.remove(name)
        with pytest.raises(OblakoBackendError, match="no container"):
            oblako_backend.start(name)

    @pytest.mark.oblako_capability("log_times")
    def test_logs_show_when_each_line_was_written_and_keep_those_since_or_until_a_moment(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("times")
        started(oblako_backend, name, oblako_test_image, f"echo one; sleep 3; echo two; {FOREVER}")
        wait_for(lambda: "two" in oblako_backend.logs(name), "the second line")
        stamped = oblako_backend.logs(name, timestamps=True).splitlines()
        assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two"]
        one, two = (epoch_seconds(line.split(" ", 1)[0]) for line in stamped)  # the runtime's own clock
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", stamped[0].split(" ", 1)[0]), stamped
        assert 2 < two - one < 30
        # A second either side: a runtime's timestamp may be cut to whole seconds.
        assert oblako_backend.logs(name, since=two - 1) == "two\n"
        assert oblako_backend.logs(name, until=one + 1) == "one\n"
        assert oblako_backend.logs(name, since=one - 1, until=two + 1) == "one\ntwo\n"

    @pytest.mark.oblako_capability("top")
    def test_top_lists_the_process_the_container_runs(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("top")
        started(oblako_backend, name, oblako_test_image, "sleep 600")
        found = oblako_backend.top(name)
        column = next((i for i, title in enumerate(found.titles) if title in ("CMD", "COMMAND", "ARGS")), None)
        assert column is not None, found
        assert any("sleep 600" in row[column] for row in found.rows), found
        oblako_backend.remove(name)
        with pytest.raises(OblakoBackendError, match="not running"):
            oblako_backend.top(name)

    @pytest.mark.oblako_capability("user")
    def test_the_user_is_honoured(self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names) -> None:
        name = oblako_name("user")
        oblako_backend.run(name=name, image=oblako_test_image, user="1234", command=["sh", "-c", f"id -u; {FOREVER}"])
        wait_for(lambda: oblako_backend.logs(name) != "", "the command's output")
        assert oblako_backend.logs(name) == "1234\n"


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class ServiceNamesContract:
    """Capability ``service_names``: a container finds another by its alias. It needs the
    runtime's name resolution; a cluster without DNS cannot pass it (see the Kubernetes tests)."""

    @pytest.mark.oblako_capability("service_names")
    def test_a_container_reaches_another_by_its_alias_and_the_network_goes_with_down(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        network = oblako_name("net")
        made = oblako_backend.create_network(network, project="contract")
        alias = oblako_name("api").lower().replace(".", "-")[:63]
        server, client = oblako_name("server"), oblako_name("client")
        try:
            oblako_backend.run(
                name=server, image=oblako_test_image, network=network, aliases=[alias], command=f"sh -c '{SERVE}'"
            )
            oblako_backend.run(
                name=client, image=oblako_test_image, network=network,
                command=f"sh -c 'until wget -q -O- http://{alias}:8080/; do sleep 0.2; done; echo; echo fetched; "
                f"{FOREVER}'",
            )  # fmt: skip
            wait_for(lambda: "fetched" in oblako_backend.logs(client), "the fetch by alias")
            assert "contract-ok" in oblako_backend.logs(client)
        finally:
            oblako_backend.remove(client)
            oblako_backend.remove(server)
            if made:
                with pytest.raises(NotOwnedError):
                    oblako_backend.remove_network(network, project="another-project")
                assert oblako_backend.remove_network(network, project="contract") is True
                assert oblako_backend.remove_network(network, project="contract") is False  # gone


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class NetworksContract:
    """The network capabilities: several networks each with its own aliases (``networks``), a
    fixed address (``ipv4_address``), networks made with options (``network_options``), and
    each ``network_mode_*``. Each checks from inside the container what a user would notice."""

    @pytest.fixture
    def made_networks(self, oblako_backend: Backend, oblako_name: Any) -> Iterator[list[str]]:
        """Networks the test made, removed after it, once its containers are gone."""
        made: list[str] = []
        yield made
        for container in getattr(oblako_name, "made", ()):
            with contextlib.suppress(OblakoBackendError):
                oblako_backend.remove(container)
        for name in made:
            oblako_backend.remove_network(name, project="contract")

    def _network(self, backend: Backend, made: list[str], name: str, **options: Any) -> str:
        from ..spec import NetworkOptions

        if backend.create_network(name, project="contract", options=NetworkOptions(**options)):
            made.append(name)
        return name

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("networks")
    @pytest.mark.oblako_capability("service_names")
    def test_containers_find_each_other_on_shared_networks_only_each_by_its_aliases_there(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names, made_networks: list[str]
    ) -> None:
        """By name, as Compose promises. (By address, an engine that does not firewall its
        networks from each other, as this CI's, still routes between them.)"""
        one, two = (self._network(oblako_backend, made_networks, oblako_name(n)) for n in ("one", "two"))
        both, left, right = oblako_name("both"), oblako_name("left"), oblako_name("right")
        on_both = [{"name": one, "aliases": ["both-one"]}, {"name": two, "aliases": ["both-two"]}]
        started(oblako_backend, both, oblako_test_image, SERVE, networks=on_both)
        started(oblako_backend, left, oblako_test_image, SERVE, networks=[{"name": one, "aliases": ["left"]}])
        started(oblako_backend, right, oblako_test_image, SERVE, networks=[{"name": two, "aliases": ["right"]}])

        def fetch_in(name: str, host: str) -> tuple[int, str]:
            return run_in(oblako_backend, name, *fetch_argv(f"http://{host}:8080/"))

        def fetched(client: str, host: str) -> Callable[[], bool]:
            return lambda: fetch_in(client, host) == (0, "contract-ok\n")

        for client, host in ((left, "both-one"), (right, "both-two"), (both, "left"), (both, "right")):
            wait_for(fetched(client, host), f"{client} to fetch {host}")
        assert fetch_in(left, "both-two")[0] != 0  # an alias is the network's: not resolved on another
        assert fetch_in(left, "right")[0] != 0

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("networks")
    def test_a_container_on_two_networks_is_attached_to_both_and_reaches_a_peer_on_each_by_address(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names, made_networks: list[str]
    ) -> None:
        """Several networks without names (as ``network_by_address`` has them): the runtime's
        listing shows the container on both, and it fetches from a peer on each, at that peer's
        address in the network's subnet."""
        one, two = (self._network(oblako_backend, made_networks, oblako_name(n).lower()) for n in ("one", "two"))
        both, left, right = oblako_name("both"), oblako_name("left"), oblako_name("right")
        started(oblako_backend, left, oblako_test_image, SERVE, networks=[one])
        started(oblako_backend, right, oblako_test_image, SERVE, networks=[two])
        started(oblako_backend, both, oblako_test_image, networks=[one, two])

        def fetches(url: str) -> Callable[[], bool]:
            return lambda: run_in(oblako_backend, both, *fetch_argv(url)) == (0, "contract-ok\n")

        for network, peer in ((one, left), (two, right)):
            room = oblako_backend.network_capacity(network)
            if room is None:  # a backend that reports no capacity: the peer's only address will do
                address = next(iter(local_addresses(oblako_backend, peer) - {"127.0.0.1"}))
            else:
                assert {both, peer} <= set(room.attached), room
                subnet = ipaddress.ip_network(room.subnet)
                found = [a for a in local_addresses(oblako_backend, peer) if ipaddress.ip_address(a) in subnet]
                assert found, (room, local_addresses(oblako_backend, peer))
                address = found[0]
            wait_for(fetches(f"http://{address}:8080/"), f"{both} to fetch from {peer} on {network} at {address}")

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("network_by_address")
    def test_containers_on_a_made_network_reach_each_other_by_address_and_it_goes_with_down(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        """Capability ``network_by_address``: both containers are attached to the network made
        (the runtime's own listing says so), one has an address in its subnet, and the other
        fetches from that address. Only the project that made it removes it."""
        network = oblako_name("byaddr").lower()
        server, client = oblako_name("server"), oblako_name("client")
        assert oblako_backend.create_network(network, project="contract") is True
        try:
            assert oblako_backend.has_network(network) is True
            started(oblako_backend, server, oblako_test_image, SERVE, network=network)
            started(oblako_backend, client, oblako_test_image, network=network)
            room = oblako_backend.network_capacity(network)
            assert room is not None and {server, client} <= set(room.attached), room
            subnet = ipaddress.ip_network(room.subnet)
            address = next(
                (a for a in local_addresses(oblako_backend, server) if ipaddress.ip_address(a) in subnet), None
            )
            assert address is not None, (room, local_addresses(oblako_backend, server))
            wait_for(
                lambda: run_in(oblako_backend, client, *fetch_argv(f"http://{address}:8080/")) == (0, "contract-ok\n"),
                "the client to fetch from the server's address",
            )
        finally:
            for name in (client, server):
                with contextlib.suppress(OblakoBackendError):
                    oblako_backend.remove(name)
            with pytest.raises(NotOwnedError):
                oblako_backend.remove_network(network, project="another-project")
            assert oblako_backend.remove_network(network, project="contract") is True
        assert oblako_backend.has_network(network) is False
        assert oblako_backend.remove_network(network, project="contract") is False  # gone

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("ipv4_address")
    @pytest.mark.oblako_capability("network_options")
    def test_a_fixed_address_is_the_one_asked_for(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names, made_networks: list[str]
    ) -> None:
        network = self._network(oblako_backend, made_networks, oblako_name("fixed"), subnets=["10.213.47.0/24"])
        name = oblako_name("fixed")
        started(oblako_backend, name, oblako_test_image, networks={network: {"ipv4_address": "10.213.47.77"}})
        assert "10.213.47.77" in local_addresses(oblako_backend, name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("network_mode_none")
    def test_network_mode_none_leaves_loopback_only(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("none")
        started(oblako_backend, name, oblako_test_image, network_mode="none")
        assert interfaces(oblako_backend, name) == {"lo"}

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("network_mode_bridge")
    def test_network_mode_bridge_joins_the_runtimes_default_network(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("bridge")
        started(oblako_backend, name, oblako_test_image, network_mode="bridge")
        assert interfaces(oblako_backend, name) - {"lo"} and default_route(oblako_backend, name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("network_mode_host")
    def test_network_mode_host_is_the_hosts_network(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        """A server on this machine's loopback answers the container: it is the host's."""
        import http.server

        class Answer(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"host-ok\n")

            def log_message(self, *_: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            name = oblako_name("host")
            started(oblako_backend, name, oblako_test_image, network_mode="host")
            url = f"http://127.0.0.1:{server.server_address[1]}/"
            assert run_in(oblako_backend, name, *fetch_argv(url)) == (0, "host-ok\n")
        finally:
            server.shutdown()
            server.server_close()

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("network_mode_container")
    def test_network_mode_container_shares_that_containers_network(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        """Its loopback is the other's: the other's server answers on 127.0.0.1, and both have
        the same addresses."""
        server, beside = oblako_name("server"), oblako_name("beside")
        started(oblako_backend, server, oblako_test_image, SERVE)
        started(oblako_backend, beside, oblako_test_image, network_mode=f"container:{server}")
        local = "http://127.0.0.1:8080/"
        wait_for(
            lambda: run_in(oblako_backend, beside, *fetch_argv(local)) == (0, "contract-ok\n"),
            "the server beside it to answer on loopback",
        )
        assert local_addresses(oblako_backend, beside) == local_addresses(oblako_backend, server)


def fetch_argv(url: str, seconds: int = 3) -> tuple[str, ...]:
    """busybox wget of `url` to stdout, ended after `seconds` (by `timeout`: wget's own -T
    crashes some static busybox builds)."""
    return ("timeout", str(seconds), "wget", "-q", "-O-", url)


def local_addresses(backend: Backend, name: str) -> set[str]:
    """The IPv4 addresses of container `name`'s network namespace (from /proc/net/fib_trie: the
    kernel's own list, with no tool the image may lack)."""
    code, out = run_in(backend, name, "cat", "/proc/net/fib_trie")
    assert code == 0, out
    lines = out.splitlines()
    return {lines[i - 1].split()[-1] for i, line in enumerate(lines) if "/32 host LOCAL" in line}


def interfaces(backend: Backend, name: str) -> set[str]:
    """The network interfaces in container `name`."""
    code, out = run_in(backend, name, "ls", "/sys/class/net")
    assert code == 0, out
    return set(out.split())


def default_route(backend: Backend, name: str) -> bool:
    """Has container `name` a default route (a way out of its networks)?"""
    code, out = run_in(backend, name, "cat", "/proc/net/route")
    assert code == 0, out
    return any(line.split()[1:2] == ["00000000"] for line in out.splitlines()[1:])


def run_in(backend: Backend, name: str, *argv: str, **given: Any) -> tuple[int, str]:
    """`Backend.exec` with its output collected: (exit code, text)."""
    chunks: list[bytes] = []
    code = backend.exec(name, list(argv), output=chunks.append, timeout=DEADLINE, **given)
    return code, b"".join(chunks).decode()


def started(backend: Backend, name: str, image: str, command: str = FOREVER, **spec: Any) -> None:
    """Run `name` with `spec`'s options and wait until it runs (a cluster schedules it first)."""
    backend.run(name=name, image=image, command=["sh", "-c", command], **spec)
    wait_for(lambda: backend.status(name) == RUNNING, f"{name} to run")


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class ExecContract:
    """Capability ``exec``: `Backend.exec` runs an argv in a running container, as `docker
    compose exec -T` does, and passes its exit code through."""

    @pytest.mark.oblako_capability("exec")
    def test_exec_runs_with_the_given_environment_and_directory_and_passes_the_exit_code_through(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("exec")
        started(oblako_backend, name, oblako_test_image)
        script = 'echo "$GREETING from $(pwd)"; echo to-stderr >&2; exit 7'
        code, out = run_in(oblako_backend, name, "sh", "-c", script, environment={"GREETING": "hi"}, working_dir="/tmp")
        assert code == 7
        assert sorted(out.splitlines()) == ["hi from /tmp", "to-stderr"]
        assert run_in(oblako_backend, name, "true") == (0, "")
        oblako_backend.remove(name)
        with pytest.raises(OblakoBackendError):
            run_in(oblako_backend, name, "true")  # gone: said, not a hang or a code


@pytest.mark.usefixtures("oblako_contract_test")  # capability selection and a deadline
class OptionsContract:
    """Compose's container options: each test runs where the backend declares the option's
    capability (options.FIELD_CAPABILITY) and checks its effect from inside the container."""

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("tmpfs")
    def test_a_tmpfs_mount_is_memory_backed(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("tmpfs")
        started(oblako_backend, name, oblako_test_image, tmpfs={"/scratch": ""})
        code, mounts = run_in(oblako_backend, name, "cat", "/proc/mounts")
        assert code == 0
        assert any(line.split()[1:3] == ["/scratch", "tmpfs"] for line in mounts.splitlines()), mounts
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("files")
    def test_files_are_in_place_with_their_content_and_mode_before_the_start(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("files")
        files = [FileSpec("/run/secrets/token", b"s3cret-value\n", 0o440), FileSpec("/etc/app/app.conf", b"a=1\n")]
        started(oblako_backend, name, oblako_test_image, "cat /run/secrets/token; " + FOREVER, files=files)
        wait_for(lambda: "s3cret-value" in oblako_backend.logs(name), "the command to read the secret at its start")
        assert run_in(oblako_backend, name, "cat", "/etc/app/app.conf") == (0, "a=1\n")
        assert run_in(oblako_backend, name, "stat", "-L", "-c", "%a", "/run/secrets/token") == (0, "440\n")
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("read_only")
    @pytest.mark.oblako_capability("tmpfs")
    def test_a_read_only_root_refuses_writes_but_its_tmpfs_takes_them(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("ro")
        started(oblako_backend, name, oblako_test_image, read_only=True, tmpfs={"/tmp": ""})
        code, _ = run_in(oblako_backend, name, "touch", "/written")
        assert code != 0
        assert run_in(oblako_backend, name, "touch", "/tmp/written") == (0, "")
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("hostname")
    def test_the_container_answers_to_its_hostname(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("host")
        started(oblako_backend, name, oblako_test_image, hostname="database")
        assert run_in(oblako_backend, name, "hostname") == (0, "database\n")
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("dns")
    def test_dns_servers_and_search_domains_are_in_resolv_conf(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("dns")
        started(oblako_backend, name, oblako_test_image, dns=["192.0.2.53"], dns_search=["corp.example"])
        code, resolv = run_in(oblako_backend, name, "cat", "/etc/resolv.conf")
        assert code == 0
        words = [line.split() for line in resolv.splitlines()]
        assert ["nameserver", "192.0.2.53"] in words, resolv
        assert any(w[:1] == ["search"] and "corp.example" in w for w in words), resolv
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("security")
    def test_a_dropped_capability_is_gone_from_the_process(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name, plain = oblako_name("capdrop"), oblako_name("caps")
        started(oblako_backend, name, oblako_test_image, cap_drop=["CHOWN"])
        started(oblako_backend, plain, oblako_test_image)
        chown = 1 << 0  # CAP_CHOWN's bit in CapEff
        assert effective_capabilities(oblako_backend, plain) & chown  # a container has it by default...
        assert not effective_capabilities(oblako_backend, name) & chown  # ...and this one not
        oblako_backend.remove(name)
        oblako_backend.remove(plain)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("init")
    def test_with_init_the_command_is_not_pid_1(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name, plain = oblako_name("init"), oblako_name("noinit")
        started(oblako_backend, name, oblako_test_image, init=True)
        started(oblako_backend, plain, oblako_test_image)
        assert run_in(oblako_backend, plain, "cat", "/proc/1/comm") == (0, "sh\n")
        code, first = run_in(oblako_backend, name, "cat", "/proc/1/comm")
        assert code == 0 and first.strip() not in ("", "sh")  # an init reaps and forwards signals
        oblako_backend.remove(name)
        oblako_backend.remove(plain)

    @pytest.mark.oblako_capability("tty")
    def test_with_tty_the_command_has_a_terminal(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("tty")
        check = "if [ -t 1 ]; then echo has-a-tty; else echo no-tty; fi; "
        started(oblako_backend, name, oblako_test_image, check + FOREVER, tty=True, stdin_open=True)
        wait_for(lambda: "tty" in oblako_backend.logs(name), "the command's line")
        assert "has-a-tty" in oblako_backend.logs(name)
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("resources")
    def test_memory_cpu_and_shared_memory_limits_reach_the_container(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        """The cgroup's memory and CPU limits; /dev/shm a memory mount (its size is checked
        nowhere: a Kubernetes before 1.22 does not size a memory emptyDir, it evicts the pod)."""
        name = oblako_name("limits")
        started(
            oblako_backend,
            name,
            oblako_test_image,
            mem_limit=64 * 1024**2,
            mem_reservation=32 * 1024**2,
            cpus=0.5,
            shm_size=16 * 1024**2,
        )
        assert run_in(oblako_backend, name, "sh", "-c", MEMORY_LIMIT) == (0, f"{64 * 1024**2}\n")
        code, quota = run_in(oblako_backend, name, "sh", "-c", CPU_QUOTA)
        assert code == 0 and int(quota.split()[0]) / int(quota.split()[1]) == 0.5, quota
        code, mounts = run_in(oblako_backend, name, "cat", "/proc/mounts")
        assert any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in mounts.splitlines()), mounts
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("process_limits")
    def test_process_limits_reach_the_container(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("plimits")
        started(
            oblako_backend,
            name,
            oblako_test_image,
            pids_limit=64,
            ulimits={"nofile": (512, 1024), "nproc": (256, 256)},
        )
        rlimits = process_limits(oblako_backend, name)
        assert (rlimits["Max open files"], rlimits["Max processes"]) == ((512, 1024), (256, 256))
        assert run_in(oblako_backend, name, "sh", "-c", PIDS_LIMIT) == (0, "64\n")
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("sysctls")
    def test_a_namespaced_sysctl_is_set(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("sysctl")
        # Namespaced, and safe for Kubernetes since its first sysctl support (newer safe ones,
        # such as net.ipv4.ip_unprivileged_port_start, an older kubelet refuses).
        started(oblako_backend, name, oblako_test_image, sysctls={"kernel.shm_rmid_forced": "1"})
        assert run_in(oblako_backend, name, "cat", "/proc/sys/kernel/shm_rmid_forced") == (0, "1\n")
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("exec")
    @pytest.mark.oblako_capability("devices")
    def test_a_host_device_appears_where_asked(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("device")
        started(oblako_backend, name, oblako_test_image, devices=["/dev/null:/dev/extra-null:rw"])
        assert run_in(oblako_backend, name, "sh", "-c", "test -c /dev/extra-null && echo a-device") == (0, "a-device\n")
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("named_volumes")
    @pytest.mark.oblako_capability("remove_volumes")
    @pytest.mark.oblako_capability("stop_signal")
    def test_stop_sends_the_stop_signal(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        volume, name, reader = oblako_name("sig"), oblako_name("signalled"), oblako_name("sigread")
        oblako_backend.create_volume(volume, project="contract")
        trap = 'trap "echo usr1 > /data/got; exit 0" USR1; trap "echo term > /data/got; exit 0" TERM; '
        started(oblako_backend, name, oblako_test_image, trap + "echo armed; sleep 600 & wait", stop_signal="SIGUSR1",
                volumes={volume: "/data"})  # fmt: skip
        wait_for(lambda: "armed" in oblako_backend.logs(name), "the traps to be set")
        oblako_backend.stop(name, timeout=30)
        started(oblako_backend, reader, oblako_test_image, "cat /data/got; " + FOREVER, volumes={volume: "/data"})
        wait_for(lambda: oblako_backend.logs(reader) != "", "the reader's line")
        assert oblako_backend.logs(reader) == "usr1\n"
        oblako_backend.remove(reader)
        oblako_backend.remove_volume(volume, project="contract")

    @pytest.mark.oblako_capability("restart")
    def test_on_failure_restarts_as_many_times_as_asked(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names
    ) -> None:
        name = oblako_name("restart")
        oblako_backend.run(name=name, image=oblako_test_image, command=["sh", "-c", "echo run; exit 3"],
                           restart="on-failure:2")  # fmt: skip
        wait_for(lambda: (oblako_backend.inspect(name) or _RUNNING).exit_code == 3, "the last run to end")
        wait_for(lambda: oblako_backend.logs(name).split() == ["run"] * 3, "three runs: the first and two restarts")
        oblako_backend.remove(name)

    @pytest.mark.oblako_capability("build")
    @pytest.mark.oblako_capability("build_options")
    @pytest.mark.oblako_capability("exec")
    def test_a_build_stops_at_its_target_with_its_args_and_takes_labels_and_a_cache_source(
        self, oblako_backend: Backend, oblako_test_image: str, oblako_name: Names, tmp_path: Path
    ) -> None:
        """Two stages after a base that takes an ARG: the target, not the last stage, is the
        image, with the argument's value baked in; a build given labels, and one given an
        existing image as its cache source, succeed and give that image. (The contract has no
        hook that reads an image's labels: each runtime's own tests check them there.)"""
        (tmp_path / "Dockerfile").write_text(
            f'FROM {oblako_test_image} AS base\nARG GREETING=unset\nRUN echo "$GREETING" > /greeting\n'
            "FROM base AS wanted\nRUN echo wanted > /stage\nFROM base AS last\nRUN echo last > /stage\n"
        )
        name = oblako_name("built")
        image = f"localhost/oblako-contract-{name}:1"
        build = BuildSpec(target="wanted", args={"GREETING": "hello from an arg"}, labels={"tier": "contract"})
        oblako_backend.build_image(image, str(tmp_path), build=build)
        cached = BuildSpec(target="wanted", args={"GREETING": "hello from an arg"}, cache_from=(image,))
        oblako_backend.build_image(image, str(tmp_path), build=cached)  # a cache source that exists is taken
        started(oblako_backend, name, image)
        assert run_in(oblako_backend, name, "cat", "/stage", "/greeting") == (0, "wanted\nhello from an arg\n")
        oblako_backend.remove(name)


def process_limits(backend: Backend, name: str) -> dict[str, tuple[int, int]]:
    """The container's main process's resource limits, {name: (soft, hard)}, from
    /proc/1/limits (an exec'd shell may get other ones, as on Podman)."""
    code, text = run_in(backend, name, "cat", "/proc/1/limits")
    assert code == 0
    found: dict[str, tuple[int, int]] = {}
    for line in text.splitlines()[1:]:
        words = re.split(r"\s{2,}", line.strip())
        if len(words) >= 3 and words[1].isdigit() and words[2].isdigit():
            found[words[0]] = (int(words[1]), int(words[2]))
    return found


def effective_capabilities(backend: Backend, name: str) -> int:
    code, status = run_in(backend, name, "cat", "/proc/self/status")
    assert code == 0
    return next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("CapEff:"))


class TestBackendContract(
    ContainerContract,
    ServiceContract,
    RaceContract,
    CompatContract,
    OptionalContract,
    ServiceNamesContract,
    ExecContract,
    OptionsContract,
    NetworksContract,
):
    """What `pytest --pyargs oblako_backends.testing.contract` runs."""
