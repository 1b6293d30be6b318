"""Supervised port-forwards: one detached supervisor per workload, recorded in a state file.

    python -m oblako_backend_kubernetes STATE_FILE

The supervisor runs `kubectl port-forward svc/NAME ADDRESS:HOST:CONTAINER ...` and restarts
it with backoff whenever it exits or reports an error (a deleted or replaced pod ends
kubectl's forward). It writes its PID, its ports and whether the forward is up into the
state file, so any process (the application, or `oblako-backends stop` after a restart) can
see it and stop it. It outlives the application on purpose, like the workload itself;
stop and remove end it. It exits by itself when its state file disappears.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

READY_MARK = "Forwarding from"
# What kubectl says when the pod behind the forward is gone or replaced: the forward will
# never work again, so it is restarted. Errors about one connection (a reset, a refused
# connect while the app restarts) are not in this list: they leave the forward running.
POD_GONE = ("lost connection to pod", "failed to find sandbox", "not found", "container not running", "unable to")


@dataclass
class State:
    """What the state file says."""

    argv: list[str]  # kubectl port-forward argv, without the ports
    ports: list[list[object]] = field(default_factory=list)  # [address, host_port, container_port]
    pid: int = 0
    ready: bool = False
    restarts: int = 0

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> State | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(state_file: Path, state: State, timeout: float) -> State:
    """Start a supervisor for `state` and wait until its forward is up (or fail with why)."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state.save(state_file)
    log = state_file.with_suffix(".log")
    with open(log, "ab") as out:
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
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        current = State.load(state_file)
        if current is not None and current.ready:
            return current
        if current is not None and current.pid and not alive(current.pid):
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    stop(state_file)
    raise TimeoutError(f"the port-forward did not come up within {timeout:g} s: {tail.strip() or 'no output'}")


def stop(state_file: Path, timeout: float = 10) -> None:
    """End the supervisor and its kubectl (by the recorded PID's process group); forget it."""
    state = State.load(state_file)
    state_file.unlink(missing_ok=True)
    if state is None or not state.pid:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(state.pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while alive(state.pid) and time.monotonic() < end:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(state.pid, signal.SIGKILL)
    state_file.with_suffix(".log").unlink(missing_ok=True)


def detach_and_supervise(state_file: Path) -> int:
    """Fork; the child leads a new session and supervises, the parent returns at once."""
    if os.fork():
        return 0
    os.setsid()
    return supervise(state_file)


def supervise(state_file: Path) -> int:
    """The supervisor's loop: keep one kubectl port-forward running until told to stop."""
    state = State.load(state_file)
    if state is None:
        return 1  # stopped before it started
    stopping = threading.Event()

    def record() -> None:
        if state_file.exists():  # never bring back a file that stop() removed
            state.save(state_file)

    state.pid = os.getpid()
    record()

    child: list[subprocess.Popen[str]] = []

    def terminate(*_: object) -> None:
        stopping.set()
        for proc in child:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()

    signal.signal(signal.SIGTERM, terminate)
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
        up = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line.rstrip(), flush=True)
            if line.startswith(READY_MARK):
                up += 1
                if up >= len(state.ports) and not state.ready:  # one line per address and port
                    state.ready = True
                    record()
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
    return 0
