"""`kubectl exec` for `Backend.exec`: the argv, what goes on its stdin, and its stderr.

kubectl exec can set neither environment variables nor a working directory. When they are
asked for, the container's own `sh` sets them: a fixed script (in argv) reads them from
stdin, never from argv (environment values are secrets, and every process's argv is
readable by anyone on the host and the node), then `exec`s the command, which is passed
as the script's arguments and so is never read by a shell. Without them no shell is needed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping

from oblako_backends import InvalidSpecError

SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Reads stdin to its end (builtins only: no cat needed), runs it (the exports and the cd,
# quoted by `payload`), then replaces itself with the command ("$@").
SCRIPT = 'payload=\nwhile IFS= read -r line; do payload="$payload$line\n"; done\neval "$payload"\nexec "$@"'
# What kubectl adds to its stderr when the command exits non-zero: not the command's output.
TERMINATED = b"command terminated with exit code "
# How kubectl's own failures begin (exit status 1), as opposed to the command's.
KUBECTL_FAILURES = (
    "Error from server",
    "error: unable to upgrade connection",
    "error: Internal error occurred",
    "Unable to connect to the server",
    "The connection to the server",
)


def command(
    argv: tuple[str, ...], environment: Mapping[str, str], working_dir: str | None
) -> tuple[list[str], bytes | None]:
    """What follows `kubectl exec ... --`, and the bytes for its stdin (None: none)."""
    if not environment and working_dir is None:
        return list(argv), None
    return ["sh", "-c", SCRIPT, "oblako-exec", *argv], payload(environment, working_dir)


def payload(environment: Mapping[str, str], working_dir: str | None) -> bytes:
    """Shell lines that export each variable and change directory (126 when it cannot, as
    Docker's exec exits when its working directory is missing)."""
    lines = []
    for key, value in environment.items():
        if not SHELL_NAME.fullmatch(key):
            raise InvalidSpecError(
                "environment",
                key,
                "on Kubernetes, exec sets variables through the container's sh: a name of letters, digits and _, "
                "not starting with a digit",
            )
        lines.append(f"export {key}={shlex.quote(value)}")
    if working_dir is not None:
        lines.append(f"cd -- {shlex.quote(working_dir)} || exit 126")
    return ("\n".join(lines) + "\n").encode()


class Stderr:
    """kubectl's stderr on its way to `output`: the command's own bytes pass as they come, the
    line kubectl adds about the exit code is held back and dropped, and the last lines are
    kept to tell kubectl's own failure from the command's."""

    def __init__(self, output: Callable[[bytes], None]):
        self.output = output
        self.held = b""
        self.tail = b""

    def write(self, chunk: bytes) -> None:
        self.tail = (self.tail + chunk)[-4096:]
        text = self.held + chunk
        keep = self._hold_from(text)
        self.held = text[keep:]
        if keep:
            self.output(text[:keep])

    @staticmethod
    def _hold_from(text: bytes) -> int:
        """Where kubectl's line may begin in `text` (len(text): nowhere)."""
        at = text.rfind(TERMINATED)
        if at >= 0 and re.fullmatch(rb"[0-9]*\n?", text[at + len(TERMINATED) :]):
            return at
        for size in range(min(len(TERMINATED) - 1, len(text)), 0, -1):
            if TERMINATED.startswith(text[-size:]):
                return len(text) - size
        return len(text)

    def finish(self, code: int) -> str | None:
        """At the end: the held bytes passed on unless they are kubectl's line about `code`;
        kubectl's own complaint when it failed rather than the command, else None."""
        if not re.fullmatch(re.escape(TERMINATED) + str(code).encode() + rb"\r?\n?", self.held) and self.held:
            self.output(self.held)
        self.held = b""
        lines = self.tail.decode("utf-8", "replace").strip().splitlines()
        if code == 1 and lines and lines[-1].startswith(KUBECTL_FAILURES):
            return "\n".join(lines)
        return None
