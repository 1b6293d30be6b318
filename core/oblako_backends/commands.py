"""Running a runtime's own command-line tool: argv lists only, always with a deadline.

Backends ask CLIs questions (`podman info`, `colima status`, ...) while locating their
runtime. A missing tool, a failure or an overrun is an answer too ("not this way"), so these
helpers report why instead of raising, and never wait past the deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .models import LogStream


@dataclass(frozen=True)
class Outcome:
    """What a command printed, or why there is nothing to read."""

    stdout: str | None
    why: str = ""


def output(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> Outcome:
    """Run `argv` (no shell) for at most `timeout` s; stdout on exit status 0, else the reason."""
    if not argv or isinstance(argv, str):
        raise TypeError("argv must be a non-empty list of arguments, not a shell string")
    program = shutil.which(argv[0], path=None if env is None else env.get("PATH"))
    if program is None:
        return Outcome(None, f"{argv[0]} is not on PATH")
    try:
        done = subprocess.run(
            [program, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(None, f"`{' '.join(argv)}` did not answer within {timeout:g} s")
    except OSError as exc:
        return Outcome(None, f"`{' '.join(argv)}` could not run: {exc}")
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return Outcome(None, f"`{' '.join(argv)}` failed ({done.returncode}): {said[-1] if said else 'no output'}")
    return Outcome(done.stdout)


def follow(argv: Sequence[str]) -> LogStream:
    """A CLI that streams log lines (`... logs --follow`) as a closable `LogStream`.

    It runs in a process group of its own; closing ends the whole group, so a CLI that
    hands the stream to a child (a wrapper script, a plugin) cannot keep the pipe open.
    """
    if not argv or isinstance(argv, str):
        raise TypeError("argv must be a non-empty list of arguments, not a shell string")
    process = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True
    )
    assert process.stdout is not None

    def close() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    return LogStream(iter(process.stdout.readline, b""), close)


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `address` right now, for runtimes that need a host port named."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])
