"""Bounded CLI calls: real subprocesses, argv lists, reasons instead of exceptions."""

from __future__ import annotations

import sys
import time

import pytest
from oblako_backends.commands import answer


def test_stdout_of_a_command_that_succeeds() -> None:
    assert answer([sys.executable, "-c", "print('hello')"], timeout=30).stdout == "hello\n"


def test_a_failure_gives_the_exit_status_and_its_last_words() -> None:
    said = answer([sys.executable, "-c", "import sys; sys.exit('storage is locked')"], timeout=30)
    assert said.stdout is None and "failed (1): storage is locked" in said.why


def test_a_command_that_overruns_is_stopped_at_the_deadline() -> None:
    started = time.monotonic()
    said = answer([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert said.stdout is None and "gave no answer within 0.5 s" in said.why
    assert time.monotonic() - started < 10


def test_a_missing_tool_is_an_answer_not_an_exception() -> None:
    said = answer(["oblako-no-such-tool", "info"], timeout=5)
    assert said.stdout is None and said.why == "oblako-no-such-tool is not on PATH"


def test_a_shell_string_is_refused() -> None:
    with pytest.raises(TypeError, match="not a shell string"):
        answer("podman info", timeout=5)  # type: ignore[arg-type]


def test_follow_streams_lines_and_close_ends_the_whole_process_group() -> None:
    """A CLI that leaves the pipe to a child it started must not keep the stream open after close."""
    import threading

    from oblako_backends.commands import follow

    script = (
        "import subprocess, sys; print('one', flush=True); "
        "subprocess.run([sys.executable, '-c', 'import time; time.sleep(120)'])"
    )
    stream = follow([sys.executable, "-c", script])
    assert next(stream) == "one"
    threading.Timer(0.3, stream.close).start()
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 30


def test_free_port_is_bindable() -> None:
    import socket

    from oblako_backends.commands import free_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))


def test_run_is_the_one_way_to_start_a_runtime_cli_with_a_deadline_and_the_cores_errors() -> None:
    from oblako_backends import OblakoBackendError, RuntimeUnavailableError
    from oblako_backends.commands import run

    done = run(
        [sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], 30, runtime="x", hint="h", input="abc"
    )
    assert done.stdout == "ABC\n"  # stdin given
    failed = run([sys.executable, "-c", "import sys; sys.exit('no such pod')"], 30, runtime="x", hint="h")
    assert failed.returncode == 1  # returned as it is without `fail`

    def fail(argv: object, stderr: str) -> OblakoBackendError:
        return OblakoBackendError(f"mapped: {stderr.strip()}")

    with pytest.raises(OblakoBackendError, match="mapped: no such pod"):
        run([sys.executable, "-c", "import sys; sys.exit('no such pod')"], 30, runtime="x", hint="h", fail=fail)
    started = time.monotonic()
    with pytest.raises(RuntimeUnavailableError, match="gave no answer within 0.5 s") as slow:
        run(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            0.5,
            runtime="kubernetes",
            hint="start it",
            where="ctx",
        )
    assert time.monotonic() - started < 10 and slow.value.tried[0][0] == "ctx" and slow.value.hint == "start it"
    with pytest.raises(RuntimeUnavailableError, match="oblako-no-such-tool is not on PATH"):
        run(["oblako-no-such-tool"], 5, runtime="x", hint="h")


def test_stream_hands_output_on_as_written_feeds_stdin_and_returns_the_exit_status() -> None:
    from oblako_backends.commands import stream

    program = (
        "import sys, time\n"
        "sys.stdout.buffer.write(b'first\\n'); sys.stdout.flush(); time.sleep(0.5)\n"
        "sys.stderr.buffer.write(sys.stdin.buffer.read().upper()); sys.exit(7)\n"
    )
    out: list[tuple[float, bytes]] = []
    err: list[bytes] = []
    started = time.monotonic()
    code = stream(
        [sys.executable, "-c", program],
        30,
        runtime="test",
        hint="",
        output=lambda chunk: out.append((time.monotonic() - started, chunk)),
        errors=err.append,
        input=b"x" * 200_000,  # more than a pipe holds
    )
    assert code == 7
    assert [chunk for _, chunk in out] == [b"first\n"] and out[0][0] < 0.4  # before the program ended
    assert b"".join(err) == b"X" * 200_000


def test_stream_ends_the_process_group_at_its_deadline() -> None:
    from oblako_backends.commands import stream
    from oblako_backends.errors import RuntimeUnavailableError

    started = time.monotonic()
    with pytest.raises(RuntimeUnavailableError, match="did not finish within 0.5 s"):
        stream([sys.executable, "-c", "import time; time.sleep(60)"], 0.5, runtime="test", hint="", output=print)
    assert time.monotonic() - started < 10


def test_stream_ends_the_process_when_the_caller_is_interrupted() -> None:
    """Ctrl-C (here: the callback raising KeyboardInterrupt, as the signal would) ends the CLI."""
    import os

    from oblako_backends.commands import stream

    pids: list[int] = []

    def interrupted(chunk: bytes) -> None:
        pids.append(int(chunk))
        raise KeyboardInterrupt

    program = "import os, sys, time; print(os.getpid(), flush=True); time.sleep(60)"
    with pytest.raises(KeyboardInterrupt):
        stream([sys.executable, "-c", program], None, runtime="test", hint="", output=interrupted)
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)
