"""The pytest plugin from a user's side: projects of their own, run by a real pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import runtimes


def pytest_in(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if not (project / "pytest.ini").exists():
        (project / "pytest.ini").write_text("[pytest]\n")  # none of this repository's settings
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OBLAKO_", "DOCKER_", "PYTEST_"))}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=project, env={**base, **(env or {})}, capture_output=True, text=True, timeout=600)


def test_an_unrelated_project_gets_no_fixture_from_the_installed_core(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_nothing_to_do_with_containers():\n    assert 1 + 1 == 2\n")
    done = pytest_in(tmp_path, "--setup-plan")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_plain.py::test_nothing_to_do_with_containers" in done.stdout
    plan = [line for line in done.stdout.splitlines() if "SETUP" in line or "TEARDOWN" in line or "::" in line]
    assert plan and not [line for line in plan if "oblako" in line]  # no fixture of ours is set up around it


def test_a_hanging_backend_fails_that_test_within_the_deadline_naming_the_step(tmp_path: Path) -> None:
    """The memory backend runs no process, so the follow test's stream never yields: a hang."""
    start = time.monotonic()
    done = pytest_in(
        tmp_path,
        "--pyargs", "oblako_backends.testing.contract", "-k", "test_follow_yields_lines_as_written",
        "--oblako-backend", "memory", "--oblako-test-image", "busybox:1", "--oblako-deadline", "3",
    )  # fmt: skip
    assert time.monotonic() - start < 60
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_follow_yields_lines_as_written_and_stops_when_closed did not finish within 3 s" in done.stdout
    assert "wait_for" in done.stdout  # the traceback ends in the step that was waiting


def test_a_suite_sets_its_own_deadline_with_the_oblako_deadline_fixture(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef oblako_deadline():\n    return 2.0  # this suite's own\n"
    )
    (tmp_path / "test_mine.py").write_text("from oblako_backends.testing.contract import OptionalContract\n\n"
                                          "class TestMine(OptionalContract):\n    pass\n")  # fmt: skip
    done = pytest_in(
        tmp_path, "-k", "test_follow_yields_lines_as_written",
        "--oblako-backend", "memory", "--oblako-test-image", "busybox:1", "--oblako-deadline", "600",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_follow_yields_lines_as_written_and_stops_when_closed did not finish within 2 s" in done.stdout


def test_oblako_services_brings_a_compose_file_up_for_the_session_and_down_after(
    docker_engine: runtimes.Daemon, tmp_path: Path
) -> None:
    port = runtimes.free_port()
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  web:\n    image: {runtimes.TEST_IMAGE}\n    ports: ['{port}:8080']\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\noblako_services = compose.yaml\n")
    (tmp_path / "test_uses_services.py").write_text(
        "import urllib.request\n\n"
        "def test_web_answers(oblako_services):\n"
        "    with urllib.request.urlopen(oblako_services.url('web', 8080), timeout=10) as r:\n"
        "        assert b'hello from oblako-test' in r.read()\n\n"
        "def test_the_same_project_serves_the_whole_session(oblako_services):\n"
        f"    assert oblako_services.endpoint('web', 8080) == ('127.0.0.1', {port})\n"
    )
    done = pytest_in(tmp_path, "-q", env={"DOCKER_HOST": docker_engine.url})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    from oblako_backends import get_backend

    os.environ["DOCKER_HOST"] = docker_engine.url
    try:
        left = [c.name for c in get_backend("docker").list() if c.project == tmp_path.name.lower()]
    finally:
        del os.environ["DOCKER_HOST"]
    assert left == []  # taken down when the session ended


def test_ctrl_c_while_oblako_services_starts_ends_the_session_and_leaves_nothing(
    docker_engine: runtimes.Daemon, tmp_path: Path
) -> None:
    import signal

    port = runtimes.free_port()
    (tmp_path / "compose.yaml").write_text(  # never ready: its port never opens
        f"services:\n  slow:\n    image: {runtimes.TEST_IMAGE}\n    ports: ['{port}:8080']\n"
        "    command: ['sh', '-c', \"trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\noblako_services = compose.yaml\n")
    (tmp_path / "test_waits.py").write_text("def test_never_runs(oblako_services):\n    pass\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OBLAKO_", "DOCKER_", "PYTEST_"))}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    session = subprocess.Popen(
        argv, cwd=tmp_path, env={**base, "DOCKER_HOST": docker_engine.url}, stdout=subprocess.PIPE, text=True
    )
    from oblako_backends import get_backend

    os.environ["DOCKER_HOST"] = docker_engine.url
    try:
        backend = get_backend("docker")
        name = f"{tmp_path.name.lower()}-slow-1"
        deadline = time.monotonic() + 60
        while backend.status(name) != "running":  # the session is now waiting for it to be ready
            assert time.monotonic() < deadline, "the service never started"
            time.sleep(0.1)
        session.send_signal(signal.SIGINT)
        session.communicate(timeout=30)  # ends promptly: one grace period, not the 60 s readiness wait
        assert session.returncode == 2  # pytest: interrupted (a failed test would be 1)
        assert backend.status(name) == "absent"
    finally:
        del os.environ["DOCKER_HOST"]
        if session.poll() is None:
            session.kill()
