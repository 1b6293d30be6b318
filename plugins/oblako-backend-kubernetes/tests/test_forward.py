"""The forward supervisor's records: PIDs checked before any signal, a state directory
trusted only when safe, and no file opened through a symlink. Real processes, no cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from oblako_backend_kubernetes import forward
from oblako_backends import ConfigurationError


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
    state_file = state_dir / "web.json"
    supervisor = f"1234 {sys.executable} -m oblako_backend_kubernetes --detach {state_file}"  # not the sleep's
    forward.ForwardState(["kubectl"], pid=stranger.pid, identity=supervisor, child=stranger.pid).save(state_file)
    forward.stop(state_file)
    assert stranger.poll() is None  # alive: never signalled
    assert not state_file.exists()  # the stale record is forgotten


def test_a_record_without_an_identity_is_never_signalled(state_dir: Path, stranger: subprocess.Popen[bytes]) -> None:
    state_file = state_dir / "old.json"  # written before identities were recorded
    forward.ForwardState(["kubectl"], pid=stranger.pid).save(state_file)
    forward.stop(state_file)
    assert stranger.poll() is None and not state_file.exists()


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
    (state_dir / "web.log").symlink_to(victims["victim-log"])
    forward.ForwardState(["kubectl"], ports=[["127.0.0.1", 1, 2]]).save(state_dir / "web.json")
    with forward.open_log(state_dir / "web.log") as log:
        log.write(b"supervisor output\n")
    assert all(path.read_text() == "precious\n" for path in victims.values())
    assert not (state_dir / "web.json").is_symlink() and forward.ForwardState.load(state_dir / "web.json")
    assert (state_dir / "web.log").read_bytes() == b"supervisor output\n"
    (state_dir / "linked.json").symlink_to(victims["victim-state"])
    assert forward.ForwardState.load(state_dir / "linked.json") is None  # a record is never read through one


def test_a_port_with_an_address_named_is_forwarded_there_only(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OBLAKO_BIND_ADDRESS widens the ports that name no address; the forward of one that
    names 127.0.0.1 listens there alone."""
    from oblako_backend_kubernetes.plugin import KubernetesPlugin
    from oblako_backends import ContainerSpec
    from oblako_backends.commands import free_port

    monkeypatch.setenv("OBLAKO_BIND_ADDRESS", "0.0.0.0")
    named, widened = free_port(), free_port()
    spec = ContainerSpec(name="web", image="busybox", ports={"80/tcp": ("127.0.0.1", named), "81/tcp": widened})
    mappings = KubernetesPlugin(state_dir=str(state_dir))._host_ports(spec)
    assert mappings == [["127.0.0.1", named, 80], ["0.0.0.0", widened, 81]]
