"""Running a runtime's own command-line tool: argv lists only, always with a deadline.

`run` is the one place a runtime CLI is started (kubectl, Apple's `container`, a third
party's tool): a deadline, output captured as text, stdin closed unless given, and errors
mapped to the core's. `answer` asks a CLI a question while locating a runtime (`podman info`,
`colima status`), where a missing tool, a failure or an overrun is an answer too ("not this
way"): it reports why instead of raising. `follow` streams a CLI's log lines; `stream` runs
one to its end, handing its output on as it comes (`exec`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .errors import OblakoBackendError, RuntimeUnavailableError
from .models import LogStream

log = logging.getLogger(__name__)


Failure = Callable[[Sequence[str], str], OblakoBackendError]  # (argv, stderr) -> the error to raise


def run(
    argv: Sequence[str],
    timeout: float,
    *,
    runtime: str,
    hint: str,
    where: str = "",
    input: str | None = None,
    fail: Failure | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a runtime's CLI `argv` (a list, never a shell string) for at most `timeout` s.

    A missing program, one that cannot start, or an overrun raises `RuntimeUnavailableError`
    for `runtime`, naming `where` (default: the program) and carrying `hint`. A non-zero exit
    is returned as it is, unless `fail` is given: then `fail(argv, stderr)` is raised.
    """
    if not argv or isinstance(argv, str):
        raise TypeError("argv must be a non-empty list of arguments, not a shell string")
    program = shutil.which(argv[0], path=None if env is None else env.get("PATH"))
    place = where or argv[0]
    if program is None:
        raise RuntimeUnavailableError(runtime, [(place, f"{argv[0]} is not on PATH")], hint)
    log.debug("%s", " ".join(argv))  # values that are secrets never ride in argv (env files, stdin)
    try:
        done = subprocess.run(
            [program, *argv[1:]],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
            env=None if env is None else dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        said = f"`{' '.join(argv[:2])}` gave no answer within {timeout:g} s"
        raise RuntimeUnavailableError(runtime, [(place, said)], hint) from exc
    except OSError as exc:
        raise RuntimeUnavailableError(runtime, [(place, f"{argv[0]} could not run: {exc}")], hint) from exc
    if fail is not None and done.returncode != 0:
        raise fail(argv, done.stderr)
    return done


@dataclass(frozen=True)
class Answer:
    """What a command printed, or why there is nothing to read."""

    stdout: str | None
    why: str = ""


def answer(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> Answer:
    """Ask a CLI (no shell) for at most `timeout` s: its stdout on exit status 0, else the reason."""
    try:
        done = run(argv, timeout, runtime=argv[0] if argv else "?", hint="", env=env)
    except RuntimeUnavailableError as exc:
        return Answer(None, exc.tried[0][1])
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return Answer(None, f"`{' '.join(argv)}` failed ({done.returncode}): {said[-1] if said else 'no output'}")
    return Answer(done.stdout)


def follow(
    argv: Sequence[str], check: Callable[[], None] | None = None, period: float = 2.0, with_stderr: bool = False
) -> LogStream:
    """A CLI that streams log lines (`... logs --follow`) as a closable `LogStream`.

    It runs in a process group of its own; closing ends the whole group, so a CLI that
    hands the stream to a child (a wrapper script, a plugin) cannot keep the pipe open.

    `check()` raises `RuntimeUnavailableError` (within its own deadline) when the runtime does
    not answer. A quiet container and a frozen runtime look alike on the pipe, so it is called
    every `period` s while the stream is open, and once when the stream ends (the runtime may
    have died rather than the container exited); its error ends the iteration.
    `with_stderr`: the CLI's stderr is part of the stream (`docker logs` writes a container's
    stderr there); otherwise it is dropped.
    """
    if not argv or isinstance(argv, str):
        raise TypeError("argv must be a non-empty list of arguments, not a shell string")
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if with_stderr else subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None
    stdout = process.stdout
    closed = threading.Event()
    failures: list[BaseException] = []

    def end_group() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def close() -> None:
        closed.set()
        end_group()

    def watch() -> None:
        assert check is not None
        while not closed.wait(period):
            try:
                check()
            except Exception as exc:  # the runtime's own error, handed to the reader
                if not closed.is_set():
                    failures.append(exc)
                    closed.set()
                    end_group()
                return

    def lines() -> Iterator[bytes]:
        yield from iter(stdout.readline, b"")
        if failures:
            raise failures[0]
        if check is not None and not closed.is_set():
            check()  # ended: did the container exit, or did the runtime go away?

    if check is not None:
        threading.Thread(target=watch, daemon=True, name="oblako-follow-watch").start()
    return LogStream(lines(), close)


def stream(
    argv: Sequence[str],
    timeout: float | None,
    *,
    runtime: str,
    hint: str,
    output: Callable[[bytes], None],
    errors: Callable[[bytes], None] | None = None,
    input: bytes | None = None,
    where: str = "",
) -> int:
    """Run a runtime's CLI `argv` to its end and return its exit status, handing its stdout to
    `output` and its stderr to `errors` (default: `output`) in chunks as they are written, in
    this thread. `input` is written to its stdin, which is then closed (None: no stdin).

    It runs in a process group of its own, which ends with it: at `timeout` s (None: never;
    then `RuntimeUnavailableError`), on Ctrl-C, or when a callback raises.
    """
    if not argv or isinstance(argv, str):
        raise TypeError("argv must be a non-empty list of arguments, not a shell string")
    program = shutil.which(argv[0])
    place = where or argv[0]
    if program is None:
        raise RuntimeUnavailableError(runtime, [(place, f"{argv[0]} is not on PATH")], hint)
    log.debug("%s", " ".join(argv))  # values that are secrets never ride in argv (stdin)
    try:
        process = subprocess.Popen(
            [program, *argv[1:]],
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise RuntimeUnavailableError(runtime, [(place, f"{argv[0]} could not run: {exc}")], hint) from exc
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        _pump(process, input, output, errors or output, deadline)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return process.wait(timeout=left)
    except subprocess.TimeoutExpired:
        said = f"`{' '.join(argv[:2])}` did not finish within {timeout:g} s"
        raise RuntimeUnavailableError(runtime, [(place, said)], hint) from None
    finally:
        if process.poll() is None:
            _end_group(process)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def _pump(
    process: subprocess.Popen[bytes],
    input: bytes | None,
    output: Callable[[bytes], None],
    errors: Callable[[bytes], None],
    deadline: float | None,
) -> None:
    """Write `input`, read stdout and stderr until both end; TimeoutExpired at `deadline`."""
    assert process.stdout is not None and process.stderr is not None
    readers = {process.stdout.fileno(): output, process.stderr.fileno(): errors}
    pending = memoryview(input or b"")
    with selectors.DefaultSelector() as selector:
        for fd in readers:
            selector.register(fd, selectors.EVENT_READ)
        if process.stdin is not None:
            os.set_blocking(process.stdin.fileno(), False)
            selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
        while selector.get_map():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(process.args, 0)
            for key, _ in selector.select(left):
                if key.fd in readers:
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        readers[key.fd](chunk)
                    else:
                        selector.unregister(key.fd)
                    continue
                assert process.stdin is not None
                try:
                    pending = pending[os.write(key.fd, pending[:65536]) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    pending = pending[:0]  # it stopped reading: what it did not take is not needed
                if not pending:
                    selector.unregister(key.fd)
                    process.stdin.close()


def _end_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `address` right now, for runtimes that need a host port named."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])
