"""The forwarder and its records: one process for all of a namespace's forwards, records
added and removed while it runs, PIDs checked before any signal, a state directory trusted
only when safe, and no file opened through a symlink. Real processes; the kubeconfig names
a server that is not there (listening needs no cluster; serving a connection does, see
test_cluster.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oblako_backend_kubernetes import forward, manifests
from oblako_backends import ConfigurationError
from oblako_backends.commands import free_port
from oblako_backends.testing import contract


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return forward.safe_directory(tmp_path / "state" / "ctx" / "ns", depth=3)


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process in a session of its own, as a reused PID would be."""
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_stop_leaves_alone_a_process_that_took_over_the_recorded_pid(
    state_dir: Path, stranger: subprocess.Popen[bytes]
) -> None:
    forwarder = f"1234 {sys.executable} -m oblako_backend_kubernetes --detach {state_dir}"  # not the sleep's
    forward.ForwarderState(pid=stranger.pid, identity=forwarder).save(state_dir)
    state_file = state_dir / "web.json"
    forward.ForwardState("web", [["127.0.0.1", 1, 2]]).save(state_file)
    forward.stop(state_file)
    assert stranger.poll() is None  # alive: never signalled
    assert not state_file.exists()  # the record is forgotten


def test_a_record_without_an_identity_is_never_signalled(state_dir: Path, stranger: subprocess.Popen[bytes]) -> None:
    forward.ForwarderState(pid=stranger.pid).save(state_dir)
    forward.ForwardState("old").save(state_dir / "old.json")
    forward.stop(state_dir / "old.json")
    assert stranger.poll() is None and not (state_dir / "old.json").exists()


def test_a_supervisor_of_the_previous_version_is_ended_by_stop_while_still_that_process(
    state_dir: Path, stranger: subprocess.Popen[bytes]
) -> None:
    """0.2 ran one supervisor per workload (leading its session, with its kubectl); an upgrade
    must not leave it serving a port nothing knows of, nor signal a PID someone else reused."""
    legacy = {"argv": ["kubectl"], "ports": [], "pid": stranger.pid, "child": 0, "child_identity": ""}
    (state_dir / "old.json").write_text(json.dumps({**legacy, "identity": f"1 {sys.executable} -m x"}))
    forward.stop(state_dir / "old.json")
    assert stranger.poll() is None and not (state_dir / "old.json").exists()  # not that process: left alone
    (state_dir / "old.json").write_text(json.dumps({**legacy, "identity": forward.identity(stranger.pid)}))
    forward.stop(state_dir / "old.json")
    assert stranger.wait(timeout=10) == -15  # that process, and its session: ended


def test_the_recorded_identity_names_one_process(stranger: subprocess.Popen[bytes]) -> None:
    recorded = forward.identity(stranger.pid)
    assert recorded.endswith("sleep 600") and forward.is_process(stranger.pid, recorded)
    stranger.kill()
    stranger.wait()
    assert not forward.is_process(stranger.pid, recorded)


def test_the_state_directory_is_created_private(state_dir: Path) -> None:
    for directory in (state_dir, state_dir.parent, state_dir.parent.parent):
        assert directory.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722, 0o702])
def test_a_state_directory_others_may_write_to_is_refused(tmp_path: Path, mode: int) -> None:
    base = tmp_path / "state"
    base.mkdir()
    base.chmod(mode)
    with pytest.raises(ConfigurationError, match=f"{base} is writable by group or others"):
        forward.safe_directory(base / "ctx" / "ns", depth=3)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_state_directory_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "state"
    base.mkdir(mode=0o700)
    os.chown(base, 65534, 65534)
    with pytest.raises(ConfigurationError, match=f"{base} is owned by uid 65534"):
        forward.safe_directory(base, depth=1)


def test_a_symlinked_state_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(ConfigurationError, match="is not a directory"):
        forward.safe_directory(tmp_path / "link", depth=1)


def test_temporary_and_log_files_are_never_written_through_symlinks(state_dir: Path, tmp_path: Path) -> None:
    victims = {name: tmp_path / name for name in ("victim-tmp", "victim-log", "victim-state")}
    for path in victims.values():
        path.write_text("precious\n")
    (state_dir / "web.tmp").symlink_to(victims["victim-tmp"])
    (state_dir / forward.LOG).symlink_to(victims["victim-log"])
    forward.ForwardState("web", ports=[["127.0.0.1", 1, 2]]).save(state_dir / "web.json")
    with forward.open_log(state_dir / forward.LOG) as log:
        log.write(b"forwarder output\n")
    assert all(path.read_text() == "precious\n" for path in victims.values())
    assert not (state_dir / "web.json").is_symlink() and forward.ForwardState.load(state_dir / "web.json")
    assert (state_dir / forward.LOG).read_bytes() == b"forwarder output\n"
    (state_dir / "linked.json").symlink_to(victims["victim-state"])
    assert forward.ForwardState.load(state_dir / "linked.json") is None  # a record is never read through one
    (state_dir / forward.STATUS).symlink_to(victims["victim-state"])
    assert forward.ForwarderState.load(state_dir) is None


def test_a_port_with_an_address_named_is_forwarded_there_only(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OBLAKO_BIND_ADDRESS widens the ports that name no address; the forward of one that
    names 127.0.0.1 listens there alone."""
    from oblako_backend_kubernetes.plugin import KubernetesPlugin
    from oblako_backends import ContainerSpec
    from oblako_backends.commands import free_port

    monkeypatch.setenv("OBLAKO_BIND_ADDRESS", "0.0.0.0")
    named, widened = free_port(), free_port()
    spec = ContainerSpec(name="web", image="busybox", ports={"80/tcp": ("127.0.0.1", named), "81/tcp": widened})
    plugin = KubernetesPlugin(state_dir=str(state_dir))
    mappings = plugin._host_ports(spec.name, plugin._published(spec))
    assert mappings == [["127.0.0.1", named, 80], ["0.0.0.0", widened, 81]]
    # A workload held by `up --no-start` keeps its ports for the start, which maps them alike.
    objects, _ = manifests.build(spec, plugin.settings)
    held = manifests.held(next(o for o in objects if o["kind"] == "Deployment"), spec)
    assert plugin._host_ports(spec.name, manifests.held_ports(held)) == mappings


def serving_now(directory: Path) -> forward.ForwarderState:
    status = forward.ForwarderState.load(directory)
    assert status is not None and status.running()
    return status


def forwarders(directory: Path) -> list[int]:
    """The processes serving `directory`: every process whose command line names it."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"oblako_backend_kubernetes" in argv and str(directory).encode() in argv:
                found.append(int(entry.name))
    return found


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kubeconfig whose one context names a server nobody runs."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n"
        "clusters: [{name: nowhere, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: me, user: {token: not-a-secret}}]\n"
        "contexts: [{name: nowhere, context: {cluster: nowhere, user: me}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    return "nowhere"


def listening(directory: Path, stems: set[str]) -> Callable[[], bool]:
    def check() -> bool:
        status = forward.ForwarderState.load(directory)
        return status is not None and set(status.serving) == stems and all(s.listening for s in status.serving.values())

    return check


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def test_one_forwarder_serves_every_record_of_its_directory_as_they_come_and_go(state_dir: Path, nowhere: str) -> None:
    ports = {f"s{i}": free_port() for i in range(4)}
    for stem in ("s0", "s1", "s2"):
        forward.ForwardState(stem, [["127.0.0.1", ports[stem], 80]], token=stem).save(state_dir / f"{stem}.json")
    forward.ensure(state_dir, nowhere, "ns")
    contract.wait_for(listening(state_dir, {"s0", "s1", "s2"}), "three records listened for", 30)
    first = serving_now(state_dir)
    assert forwarders(state_dir) == [first.pid]  # one process for all three
    assert all(accepts(ports[s]) for s in ("s0", "s1", "s2"))
    forward.ForwardState("s3", [["127.0.0.1", ports["s3"], 80]], token="s3").save(state_dir / "s3.json")
    contract.wait_for(listening(state_dir, {"s0", "s1", "s2", "s3"}), "a fourth record listened for", 30)
    assert accepts(ports["s3"])
    forward.stop(state_dir / "s1.json")  # returns once the port is let go
    assert not accepts(ports["s1"]) and accepts(ports["s0"])
    assert serving_now(state_dir).pid == first.pid and forwarders(state_dir) == [first.pid]
    for stem in ("s0", "s2", "s3"):
        forward.stop(state_dir / f"{stem}.json")
    assert not forward.still_exiting_or_running(first.pid, first.identity)  # the last stop ends it
    assert forwarders(state_dir) == [] and not any(accepts(p) for p in ports.values())
    assert sorted(p.name for p in state_dir.iterdir()) == [forward.LOCK]  # its status and log are gone too


def test_a_forwarder_ends_by_itself_when_its_last_record_is_removed(state_dir: Path, nowhere: str) -> None:
    forward.ForwardState("web", [["127.0.0.1", free_port(), 80]], token="t").save(state_dir / "web.json")
    forward.ensure(state_dir, nowhere, "ns")
    contract.wait_for(listening(state_dir, {"web"}), "the record listened for", 30)
    status = serving_now(state_dir)
    (state_dir / "web.json").unlink()  # not through stop(): nobody signals it
    contract.wait_for(lambda: not forward.still_exiting_or_running(status.pid, status.identity), "it to end", 10)


def test_forwarders_launched_together_leave_one_serving(state_dir: Path, nowhere: str) -> None:
    port = free_port()
    forward.ForwardState("web", [["127.0.0.1", port, 80]], token="t").save(state_dir / "web.json")
    launchers = [threading.Thread(target=forward.launch, args=(state_dir, nowhere, "ns")) for _ in range(4)]
    for launcher in launchers:
        launcher.start()
    for launcher in launchers:
        launcher.join()
    contract.wait_for(listening(state_dir, {"web"}), "the record listened for", 30)
    contract.wait_for(lambda: len(forwarders(state_dir)) == 1, "the extra forwarders to leave", 30)
    assert forwarders(state_dir) == [serving_now(state_dir).pid] and accepts(port)
    forward.stop(state_dir / "web.json")
    assert forwarders(state_dir) == []


def test_a_held_port_is_refused_naming_it_and_the_others_of_the_record_are_let_go(
    state_dir: Path, nowhere: str
) -> None:
    free, held = free_port(), free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", held))
        holder.listen()
        record = forward.ForwardState("web", [["127.0.0.1", free, 80], ["127.0.0.1", held, 81]])
        with pytest.raises(forward.Refused, match=f"can't listen on 127.0.0.1:{held}: Address already in use") as got:
            forward.start(state_dir / "web.json", record, nowhere, "ns", timeout=30)
        assert got.value.held_port == held
    assert not accepts(free) and not (state_dir / "web.json").exists() and forwarders(state_dir) == []


def test_a_context_the_kubeconfig_lacks_is_said_at_once(state_dir: Path, nowhere: str) -> None:
    record = forward.ForwardState("web", [["127.0.0.1", free_port(), 80]])
    started = time.monotonic()
    with pytest.raises(forward.Refused, match="can't use the kubeconfig for context elsewhere: .*elsewhere"):
        forward.start(state_dir / "web.json", record, "elsewhere", "ns", timeout=60)
    assert time.monotonic() - started < 30 and forwarders(state_dir) == []


def test_stop_never_signals_the_forwarder_while_it_serves_other_records(
    state_dir: Path, stranger: subprocess.Popen[bytes]
) -> None:
    """Even when it does not let go of the stopped record in time: the others' forwards stay."""
    stuck = {"web": forward.Serving("w", True, "pod-1"), "db": forward.Serving("d", True, "pod-2")}
    forward.ForwarderState(pid=stranger.pid, identity=forward.identity(stranger.pid), serving=stuck).save(state_dir)
    for stem in stuck:
        forward.ForwardState(stem, [["127.0.0.1", 1, 2]]).save(state_dir / f"{stem}.json")
    forward.stop(state_dir / "web.json", timeout=0.3)
    assert stranger.poll() is None and not (state_dir / "web.json").exists()
    forward.stop(state_dir / "db.json", timeout=0.3)  # the last one: ended, as it did not end by itself
    assert stranger.wait(timeout=10) == -15


def test_stop_and_recover_trust_no_record_in_a_directory_others_may_write_to(
    state_dir: Path, stranger: subprocess.Popen[bytes]
) -> None:
    forward.ForwarderState(pid=stranger.pid, identity=forward.identity(stranger.pid)).save(state_dir)
    forward.ForwardState("web", [["127.0.0.1", 1, 2]]).save(state_dir / "web.json")
    state_dir.chmod(0o777)
    try:
        with pytest.raises(ConfigurationError, match="is writable by group or others"):
            forward.stop(state_dir / "web.json")
        with pytest.raises(ConfigurationError, match="is writable by group or others"):
            forward.recover(state_dir / "web.json", "ctx", "ns")
        assert stranger.poll() is None and (state_dir / "web.json").exists()  # nothing signalled, nothing launched
    finally:
        state_dir.chmod(0o700)
