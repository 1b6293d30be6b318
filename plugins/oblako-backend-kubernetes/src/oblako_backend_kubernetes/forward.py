"""Supervised port-forwards: one detached supervisor per workload, recorded in a state file.

    python -m oblako_backend_kubernetes --detach STATE_FILE

The supervisor runs `kubectl port-forward svc/NAME ADDRESS:HOST:CONTAINER ...` and restarts
it with backoff whenever it exits or reports an error (a deleted or replaced pod ends
kubectl's forward). It writes its PID, its kubectl's PID, both processes' identities, its
ports and whether the forward is up into the state file, so any process (the application,
or `oblako-backends stop` after a restart) can see it and stop it. It outlives the
application on purpose, like the workload itself; stop and remove end it. It exits by
itself when its state file disappears or its Service is deleted outside oblako.

PIDs are reused and state files survive crashes and reboots, so a recorded PID is signalled
only while it is still the very process recorded (its start time and command line). The
state directory is used only when this user owns it and nobody else may write to it, and
no file in it is opened through a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from oblako_backends import ConfigurationError

READY_MARK = "Forwarding from"
# What kubectl says when the pod behind the forward is gone or replaced: the forward will
# never work again, so it is restarted. Errors about one connection (a reset, a refused
# connect while the app restarts) are not in this list: they leave the forward running.
POD_GONE = ("lost connection to pod", "failed to find sandbox", "not found", "container not running", "unable to")
# kubectl's word that the Service itself is gone: the workload was deleted, so is the forward.
SERVICE_GONE = re.compile(r'services? "[^"]+" not found')


@dataclass
class ForwardState:
    """What the state file says."""

    argv: list[str]  # kubectl port-forward argv, without the ports
    ports: list[list[object]] = field(default_factory=list)  # [address, host_port, container_port]
    pid: int = 0  # the supervisor
    identity: str = ""  # the supervisor's start time and command line, see `identity()`
    child: int = 0  # its kubectl port-forward
    child_identity: str = ""
    ready: bool = False
    restarts: int = 0

    def save(self, path: Path) -> None:
        """Write atomically, never through a symlink: a fresh temporary file renamed into place."""
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)  # removes a symlink itself, never its target
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(json.dumps(asdict(self)))
        tmp.replace(path)  # rename replaces a symlink at `path`, it does not write through it

    @classmethod
    def load(cls, path: Path) -> ForwardState | None:
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(descriptor) as source:
                return cls(**json.loads(source.read()))
        except (OSError, ValueError, TypeError):
            return None

    def supervised(self) -> bool:
        """Is the recorded supervisor still running (the same process, not a reused PID)?"""
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


def open_log(path: Path) -> BinaryIO:
    """The supervisor's log for appending, never through a symlink (one there is replaced)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        path.unlink()
        descriptor = os.open(path, flags | os.O_EXCL, 0o600)
    return os.fdopen(descriptor, "ab")


def start(state_file: Path, state: ForwardState, timeout: float) -> ForwardState:
    """Start a supervisor for `state` and wait until its forward is up (or fail with why)."""
    launch(state_file, state)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        current = ForwardState.load(state_file)
        if current is not None and current.ready and current.supervised():
            return current
        if current is not None and current.pid and not current.supervised():
            break
        time.sleep(0.1)
    log = state_file.with_suffix(".log")
    tail = log.read_text(errors="replace")[-1500:] if log.exists() and not log.is_symlink() else ""
    stop(state_file)
    raise TimeoutError(f"the port-forward did not come up within {timeout:g} s: {tail.strip() or 'no output'}")


def launch(state_file: Path, state: ForwardState) -> None:
    """Record `state` and start its supervisor, without waiting for the forward."""
    safe_directory(state_file.parent, depth=3)
    state.pid, state.identity, state.child, state.child_identity, state.ready = 0, "", 0, "", False
    state.save(state_file)
    with open_log(state_file.with_suffix(".log")) as out:
        # The launcher forks the supervisor into a session of its own and exits, so the
        # supervisor is nobody's child here: any process can stop it, and none leaves a zombie.
        subprocess.run(
            [sys.executable, "-m", "oblako_backend_kubernetes", "--detach", str(state_file)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=30,
            check=True,
        )


def recover(state_file: Path) -> ForwardState | None:
    """The record, healed: a supervisor found dead (kill -9, a reboot) has its orphaned kubectl
    stopped and a new supervisor started in its place. None when there is no record."""
    state = ForwardState.load(state_file)
    if state is None or not state.pid or state.supervised():
        return state
    _signal(state.child, state.child_identity, signal.SIGTERM)  # kubectl outlives a killed supervisor
    launch(state_file, state)
    return ForwardState.load(state_file)


def stop(state_file: Path, timeout: float = 10) -> None:
    """End the supervisor and its kubectl, if they are still the processes recorded; forget the record."""
    state = ForwardState.load(state_file)
    state_file.unlink(missing_ok=True)
    state_file.with_suffix(".tmp").unlink(missing_ok=True)
    if state is not None and state.pid:
        if state.supervised():
            _signal(state.pid, state.identity, signal.SIGTERM, group=True)
            end = time.monotonic() + timeout
            while still_exiting_or_running(state.pid, state.identity) and time.monotonic() < end:
                time.sleep(0.05)
            _signal(state.pid, state.identity, signal.SIGKILL, group=True)
        _signal(state.child, state.child_identity, signal.SIGKILL)  # an orphan, if the supervisor was killed
    state_file.with_suffix(".log").unlink(missing_ok=True)


def _signal(pid: int, recorded: str, sig: signal.Signals, group: bool = False) -> None:
    """Signal `pid` (its process group, for a supervisor) only while it is the process recorded."""
    if not is_process(pid, recorded):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)  # the supervisor leads its own session: this reaches its kubectl too
        else:
            os.kill(pid, sig)


WORKLOAD_CHECK_PERIOD = 10.0  # seconds between "does my Service still exist?" questions


def _watch_workload(
    argv: list[str], gone: threading.Event, stopping: threading.Event, terminate: Callable[[], None]
) -> None:
    """An idle forward does not notice its workload being deleted (kubectl learns of it only on
    the next connection), so ask the cluster now and then; when the Service is gone, stop."""
    at = argv.index("port-forward")
    base, target = argv[:at], argv[at + 1]
    while not stopping.wait(WORKLOAD_CHECK_PERIOD):
        try:
            done = subprocess.run(
                [*base, "--request-timeout=10s", "get", target, "--output=name"],
                capture_output=True,
                text=True,
                timeout=20,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue  # no answer is not "gone": the forward's own restarts deal with a missing server
        if done.returncode != 0 and "notfound" in done.stderr.replace(" ", "").lower():
            gone.set()
            stopping.set()
            terminate()
            return


def detach_and_supervise(state_file: Path) -> int:
    """Fork; the child leads a new session and supervises, the parent returns at once."""
    if os.fork():
        return 0
    os.setsid()
    return supervise(state_file)


def supervise(state_file: Path) -> int:
    """The supervisor's loop: keep one kubectl port-forward running until told to stop."""
    state = ForwardState.load(state_file)
    if state is None:
        return 1  # stopped before it started
    stopping = threading.Event()

    def record() -> None:
        if state_file.exists():  # never bring back a file that stop() removed
            state.save(state_file)

    state.pid = os.getpid()
    state.identity = identity(state.pid)
    record()

    child: list[subprocess.Popen[str]] = []

    def terminate(*_: object) -> None:  # SIGTERM, or the workload is gone
        stopping.set()
        for proc in child:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()

    signal.signal(signal.SIGTERM, terminate)
    gone = threading.Event()
    threading.Thread(target=_watch_workload, args=(state.argv, gone, stopping, terminate), daemon=True).start()
    pairs = list(dict.fromkeys(f"{host}:{container}" for _, host, container in state.ports))
    addresses = list(dict.fromkeys(str(p[0]) for p in state.ports))
    backoff = 0.2
    while not stopping.is_set() and state_file.exists():
        started = time.monotonic()
        proc = subprocess.Popen(
            [*state.argv, f"--address={','.join(addresses)}", *pairs],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        child[:] = [proc]
        state.child, state.child_identity = proc.pid, identity(proc.pid)
        record()
        up = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line.rstrip(), flush=True)
            if line.startswith(READY_MARK):
                up += 1
                if up >= len(state.ports) and not state.ready:  # one line per address and port
                    state.ready = True
                    record()
            elif SERVICE_GONE.search(line):
                gone.set()  # deleted outside oblako: nothing will ever come back to forward to
                proc.terminate()
                break
            elif any(mark in line.lower() for mark in POD_GONE):
                proc.terminate()
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc.poll() is None:
            proc.kill()
        if stopping.is_set() or not state_file.exists():
            break
        state.ready = False
        state.restarts += 1
        record()
        backoff = 0.2 if time.monotonic() - started > 10 else min(backoff * 2, 5.0)
        stopping.wait(backoff)
    if gone.is_set():  # the workload was deleted outside oblako: so is its record
        state_file.unlink(missing_ok=True)
        state_file.with_suffix(".log").unlink(missing_ok=True)
    return 0
