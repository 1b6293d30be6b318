"""Port-forwards, as the application sees them: one record per workload, one forwarder per namespace.

Each workload that publishes ports has a record, `<state dir>/<context>/<namespace>/<name>.json`,
that says which localhost ports lead to which container ports. One detached process per
directory, the forwarder (forwarder.py), serves every record there: it listens on the ports
and forwards each connection to the workload's current pod through the Kubernetes API.
Adding a record is all it takes to add forwards; removing it ends them. The forwarder says
what it serves in `_forwarder.json` (its PID, start time and command line, and per record
whether it is listening, at which pod, or why not), so any process (the application, or
`oblako-backends stop` after a restart) can see it and stop it. It outlives the application
on purpose, like the workloads; it ends when the last record is removed.

PIDs are reused and state files survive crashes and reboots, so a recorded PID is signalled
only while it is still the very process recorded (its start time and command line). The
state directory is used only when this user owns it and nobody else may write to it, and
no file in it is opened through a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from oblako_backends import ConfigurationError

STATUS = "_forwarder.json"  # a workload's name is a DNS label: it never starts with "_"
LOCK = "_forwarder.lock"  # held by the forwarder while it runs: at most one per directory
LOG = "_forwarder.log"
RELAUNCH_AFTER = 3.0  # seconds a launched forwarder has to take its lock before another is launched


class Refused(Exception):
    """The forwarder cannot serve a record (it said why); `held_port` when a host port is taken."""

    def __init__(self, message: str, held_port: int = 0):
        super().__init__(message)
        self.held_port = held_port


def _save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, never through a symlink: a fresh temporary file renamed into place."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # removes a symlink itself, never its target
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(json.dumps(data))
    tmp.replace(path)  # rename replaces a symlink at `path`, it does not write through it


def _load(path: Path) -> dict[str, Any] | None:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(descriptor) as source:
            found = json.loads(source.read())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


@dataclass
class ForwardState:
    """A workload's record: which host ports lead to which of its container ports."""

    workload: str  # the Kubernetes name: its pods carry the label oblako.workload=<workload>
    ports: list[list[object]] = field(default_factory=list)  # [address, host_port, container_port]
    token: str = ""  # this record's own: the forwarder's answer about it names it

    def save(self, path: Path) -> None:
        _save(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> ForwardState | None:
        found = _load(path)
        try:
            return None if found is None else cls(**found)
        except TypeError:
            return None  # a record of an earlier version, or not a record


@dataclass
class Serving:
    """What the forwarder says about one record."""

    token: str = ""
    listening: bool = False  # every port of the record is bound
    pod: str = ""  # the pod connections go to now ("" while there is none ready)
    retargets: int = 0  # how often that pod changed (a pod replaced, deleted, rescheduled)
    error: str = ""  # why the record cannot be served; it never will be
    held_port: int = 0  # the host port someone else holds, when that is why

    @property
    def ready(self) -> bool:
        return self.listening and bool(self.pod)


@dataclass
class ForwarderState:
    """What `_forwarder.json` says: who the forwarder is and what it serves."""

    pid: int = 0
    identity: str = ""  # its start time and command line, see `identity()`
    context: str = ""
    namespace: str = ""
    serving: dict[str, Serving] = field(default_factory=dict)  # by record (file stem)

    def save(self, directory: Path) -> None:
        _save(directory / STATUS, asdict(self))

    @classmethod
    def load(cls, directory: Path) -> ForwarderState | None:
        found = _load(directory / STATUS)
        if found is None:
            return None
        try:
            serving = {str(k): Serving(**v) for k, v in (found.pop("serving", None) or {}).items()}
            return cls(**found, serving=serving)
        except TypeError:
            return None

    def running(self) -> bool:
        """Is the recorded forwarder still running (the same process, not a reused PID)?"""
        return is_process(self.pid, self.identity)


def identity(pid: int) -> str:
    """Who `pid` is: its start time since boot and its command line ("" if there is no such process).

    A reused PID gets a different start time, so (pid, identity) names one process for good.
    """
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _identity_from_ps(pid) if not Path("/proc/self").exists() else ""
    fields = stat_line.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ')'
    command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return f"{fields[19]} {command}"


def _identity_from_ps(pid: int) -> str:
    """Where there is no /proc (macOS): `ps` gives the start time and command line."""
    from oblako_backends.commands import answer

    said = answer(["ps", "-o", "lstart=,command=", "-p", str(pid)], timeout=5)
    return (said.stdout or "").strip()


def is_process(pid: int, recorded: str) -> bool:
    """True when `pid` is alive and is still the process recorded as `recorded`."""
    return pid > 0 and bool(recorded) and identity(pid) == recorded


def still_exiting_or_running(pid: int, recorded: str) -> bool:
    """Is the recorded process still there, running or not yet reaped? (A zombie keeps its
    start time but loses its command line; a reused PID has another start time.)"""
    now = identity(pid)
    return bool(now) and bool(recorded) and now.split(" ", 1)[0] == recorded.split(" ", 1)[0]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def safe_directory(path: Path, depth: int = 1) -> Path:
    """Create `path` (0700) as needed; refuse it unless this user owns it and no one else may
    write to it. The same holds for its `depth - 1` nearest parents (the state directory's
    layout is <state dir>/<context>/<namespace>)."""
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    for directory in [path, *list(path.parents)[: max(depth - 1, len(missing) - 1)]]:
        info = os.lstat(directory)
        problem = ""
        if not stat.S_ISDIR(info.st_mode):
            problem = "is not a directory (a symlink?)"
        elif info.st_uid != os.geteuid():
            problem = f"is owned by uid {info.st_uid}, not by you (uid {os.geteuid()})"
        elif info.st_mode & 0o022:
            problem = f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
        if problem:
            raise ConfigurationError(
                f"the port-forward state directory {directory} {problem}, so its records cannot be trusted; "
                f"fix it (`chmod 700 {directory}`) or choose another with OBLAKO_K8S_STATE_DIR"
            )
    return path


def open_private(path: Path, flags: int) -> int:
    """A descriptor of `path` (0600), never opened through a symlink (one there is replaced)."""
    flags |= os.O_CREAT | os.O_NOFOLLOW
    try:
        return os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        path.unlink()
        return os.open(path, flags | os.O_EXCL, 0o600)


def open_log(path: Path) -> BinaryIO:
    """The forwarder's log for appending, never through a symlink."""
    return os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "ab")


def records(directory: Path) -> dict[str, ForwardState]:
    """Every workload's record in `directory`, by file stem."""
    found = {}
    for path in sorted(directory.glob("*.json")):
        if path.name != STATUS and (record := ForwardState.load(path)) is not None:
            found[path.stem] = record
    return found


def serving(directory: Path) -> bool:
    """Does a forwarder hold this directory's lock now? (Asking takes the lock for a moment:
    a forwarder starting just then finds it taken and leaves, and the asker starts one.)"""
    try:
        descriptor = open_private(directory / LOCK, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)  # closing releases a lock taken here
    return False


def launch(directory: Path, context: str, namespace: str) -> None:
    """Start a forwarder for `directory`, without waiting for it (one already serving stays
    the only one: the newcomer finds the lock taken and leaves)."""
    with open_log(directory / LOG) as out:
        # The launcher forks the forwarder into a session of its own and exits, so the
        # forwarder is nobody's child here: any process can stop it, and none leaves a zombie.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "oblako_backend_kubernetes",
                "--detach",
                str(directory),
                f"--context={context}",
                f"--namespace={namespace}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=30,
            check=True,
        )


def ensure(directory: Path, context: str, namespace: str, launched: float = 0.0) -> float:
    """A forwarder serves `directory`: when none holds its lock (and none was launched here in
    the last few seconds, `launched` being when), launch one. Returns when one was last launched."""
    if serving(directory) or time.monotonic() - launched < RELAUNCH_AFTER:
        return launched
    launch(directory, context, namespace)
    return time.monotonic()


def start(state_file: Path, record: ForwardState, context: str, namespace: str, timeout: float) -> Serving:
    """Record `record` and wait until the forwarder listens on its ports at a ready pod. Raises
    Refused when it cannot serve them, TimeoutError when it did not in time."""
    directory = safe_directory(state_file.parent, depth=3)
    record.token = secrets.token_hex(8)
    record.save(state_file)
    stem = state_file.stem
    launched = 0.0
    end = time.monotonic() + timeout
    said = ""
    while time.monotonic() < end:
        status = ForwarderState.load(directory)
        if status is None or not status.running():
            launched = ensure(directory, context, namespace, launched)
        answer = status.serving.get(stem) if status is not None else None
        if answer is not None and answer.token == record.token:
            if answer.error:  # said by this record's forwarder, running or not
                stop(state_file)
                raise Refused(answer.error, answer.held_port)
            if answer.ready and status is not None and status.running():
                return answer
            said = "listening, but no pod of it is ready" if answer.listening else "not listening yet"
        time.sleep(0.05)
    log = directory / LOG
    tail = log.read_text(errors="replace")[-1500:] if log.exists() and not log.is_symlink() else ""
    stop(state_file)
    raise TimeoutError(f"the port-forward did not come up within {timeout:g} s ({said or 'no answer'}): {tail.strip()}")


def recover(state_file: Path, context: str, namespace: str) -> ForwardState | None:
    """The record, with a forwarder serving it: one found dead (kill -9, a reboot) is started
    again (it serves every record there). None when there is no record."""
    record = ForwardState.load(state_file)
    if record is not None:
        ensure(safe_directory(state_file.parent, depth=3), context, namespace)
    return record


def stop(state_file: Path, timeout: float = 10) -> None:
    """Forget the record; wait until the forwarder has let go of its ports. With no record
    left, the forwarder ends by itself; one still there after `timeout` is ended, if it is
    still the process recorded. While other records remain it is never signalled: it serves
    them too."""
    directory = state_file.parent
    if not directory.exists():
        return
    safe_directory(directory, depth=3)  # a record is trusted only in a private directory
    _end_supervisor(_load(state_file) or {})
    state_file.unlink(missing_ok=True)
    state_file.with_suffix(".tmp").unlink(missing_ok=True)
    status = ForwarderState.load(directory)
    if status is None or not status.running():
        return
    others = bool(records(directory))
    end = time.monotonic() + timeout
    while time.monotonic() < end:  # it reads the directory several times a second
        if others:
            now = ForwarderState.load(directory)
            if now is None or now.pid != status.pid or not now.running() or state_file.stem not in now.serving:
                return
        elif not still_exiting_or_running(status.pid, status.identity):
            return  # it ended by itself, its last record gone
        time.sleep(0.05)
    if others:
        return
    _signal(status.pid, status.identity, signal.SIGTERM)
    end = time.monotonic() + timeout
    while still_exiting_or_running(status.pid, status.identity) and time.monotonic() < end:
        time.sleep(0.05)
    _signal(status.pid, status.identity, signal.SIGKILL)


def _signal(pid: int, recorded: str, sig: signal.Signals, group: bool = False) -> None:
    """Signal `pid` (its process group, when it leads one) only while it is the process recorded."""
    if not is_process(pid, recorded):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def _end_supervisor(record: dict[str, Any]) -> None:
    """A record of oblako-backends 0.2's, written before the forwarder: one supervisor per
    workload, leading its own session with its kubectl. It is ended (if still the process
    recorded), so that an upgrade leaves no forward running that nothing knows of."""
    pid, recorded = record.get("pid"), record.get("identity")
    if isinstance(pid, int) and isinstance(recorded, str) and "argv" in record:
        _signal(pid, recorded, signal.SIGTERM, group=True)
        child, child_identity = record.get("child"), record.get("child_identity")
        if isinstance(child, int) and isinstance(child_identity, str):
            _signal(child, child_identity, signal.SIGTERM)
