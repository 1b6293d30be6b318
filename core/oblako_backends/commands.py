"""Running a runtime's own command-line tool: argv lists only, always with a deadline.

Backends ask CLIs questions (`podman info`, `colima status`, ...) while locating their
runtime. A missing tool, a failure or an overrun is an answer too ("not this way"), so these
helpers report why instead of raising, and never wait past the deadline.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


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
