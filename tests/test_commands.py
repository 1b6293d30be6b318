"""Bounded CLI calls: real subprocesses, argv lists, reasons instead of exceptions."""

from __future__ import annotations

import sys
import time

import pytest
from oblako_backends.commands import output


def test_stdout_of_a_command_that_succeeds() -> None:
    assert output([sys.executable, "-c", "print('hello')"], timeout=30).stdout == "hello\n"


def test_a_failure_gives_the_exit_status_and_its_last_words() -> None:
    said = output([sys.executable, "-c", "import sys; sys.exit('storage is locked')"], timeout=30)
    assert said.stdout is None and "failed (1): storage is locked" in said.why


def test_a_command_that_overruns_is_stopped_at_the_deadline() -> None:
    started = time.monotonic()
    said = output([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert said.stdout is None and "did not answer within 0.5 s" in said.why
    assert time.monotonic() - started < 10


def test_a_missing_tool_is_an_answer_not_an_exception() -> None:
    said = output(["oblako-no-such-tool", "info"], timeout=5)
    assert said.stdout is None and said.why == "oblako-no-such-tool is not on PATH"


def test_a_shell_string_is_refused() -> None:
    with pytest.raises(TypeError, match="not a shell string"):
        output("podman info", timeout=5)  # type: ignore[arg-type]


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
