"""This host's lock, which makes concurrent creates of one network take turns, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from oblako_backend_docker import host_lock
from oblako_backends.errors import OblakoBackendError

HOLD = """
import sys
from oblako_backend_docker import host_lock
with host_lock.held(sys.argv[1], 5):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def hold(key: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_second_process_waits_its_turn_and_gets_it_when_the_holder_dies(private_tmp: Path) -> None:
    holder = hold("engine-a network web_default")
    try:
        taken = r"another oblako-backends process has held .*\.lock for over 0.3 s"
        with pytest.raises(OblakoBackendError, match=taken), host_lock.held("engine-a network web_default", 0.3):
            pytest.fail("took a lock another process holds")
        with host_lock.held("engine-a network other_default", 0.3):
            pass  # another name is not held up
        with host_lock.held("engine-b network web_default", 0.3):
            pass  # nor the same name on another engine
    finally:
        holder.send_signal(signal.SIGKILL)  # however the holder ends, its lock goes with it
        holder.wait(timeout=10)
    with host_lock.held("engine-a network web_default", 5):
        pass
    assert list(private_tmp.glob(f"oblako-backends-{os.getuid()}/*.lock"))


@pytest.mark.parametrize("kind", ["symlink", "shared", "file"])
def test_a_lock_directory_that_is_not_this_users_private_one_is_never_used(private_tmp: Path, kind: str) -> None:
    place = private_tmp / f"oblako-backends-{os.getuid()}"
    elsewhere = private_tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if kind == "symlink":
        place.symlink_to(elsewhere)
    elif kind == "shared":
        place.mkdir()
        place.chmod(0o777)
    else:
        place.write_text("")
    assert host_lock.lock_directory() is None
    with host_lock.held("engine-a network web_default", 0.3):
        pass  # the create goes on without a lock (and is resolved after the fact) rather than failing
    assert not list(elsewhere.iterdir()) and not list(private_tmp.glob("**/*.lock"))


def test_a_lock_file_that_is_a_symlink_is_never_followed(private_tmp: Path) -> None:
    with host_lock.held("engine-a network web_default", 0.3):
        pass
    (lock,) = (private_tmp / f"oblako-backends-{os.getuid()}").iterdir()
    target = private_tmp / "target"
    target.write_text("theirs")
    lock.unlink()
    lock.symlink_to(target)
    with host_lock.held("engine-a network web_default", 0.3):
        pass  # goes on without a lock rather than opening (or failing on) what the link names
    assert target.read_text() == "theirs" and lock.is_symlink()
