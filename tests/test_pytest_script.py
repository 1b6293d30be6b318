"""scripts/pytest.sh, the test command's last step: with OBLAKO_TEST_BESIDE=1 and a cluster
named, the tests that need it run in a second pytest process beside the others; both must pass,
and Ctrl-C ends both through their teardown. Run here on small suites of its own (no cluster is
needed to show it)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "pytest.sh"
SUITE = """
import os, pathlib, time, pytest

HERE = pathlib.Path(__file__).parent

@pytest.fixture
def noted(request):
    (HERE / f"started-{request.node.name}").write_text(str(os.getpid()))
    yield
    (HERE / f"ended-{request.node.name}").write_text("")

def test_other(noted):
    assert os.environ.get("OUTCOME") != "other fails"
    time.sleep(float(os.environ.get("HOLD", "0")))

@pytest.mark.cluster
def test_in_the_cluster(noted):
    assert os.environ.get("OUTCOME") != "cluster fails"
    time.sleep(float(os.environ.get("HOLD", "0")))
"""


def suite(tmp_path: Path, text: str = SUITE) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    cluster: needs the cluster\n")
    (tmp_path / "test_suite.py").write_text(text)
    return tmp_path


def command(where: Path) -> list[str]:
    ini, tests = where / "pytest.ini", where / "test_suite.py"
    return ["bash", str(SCRIPT), "-p", "no:cacheprovider", "-c", str(ini), str(tests)]


def run(where: Path, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "OBLAKO_TEST_BESIDE": "1", "OBLAKO_TEST_KUBECONFIG": "/nowhere", **env}
    return subprocess.run(command(where), capture_output=True, text=True, timeout=120, env=variables, check=False)


def test_both_halves_run_once_each_and_pass_together(tmp_path: Path) -> None:
    done = run(suite(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "started-test_other").read_text() != (tmp_path / "started-test_in_the_cluster").read_text()
    before, cluster = done.stdout.split("=== the tests that need the Kubernetes cluster")
    assert "1 passed, 1 deselected" in before and "1 passed, 1 deselected" in cluster


@pytest.mark.parametrize("outcome", ["other fails", "cluster fails"])
def test_a_failure_on_either_side_fails_the_command(tmp_path: Path, outcome: str) -> None:
    done = run(suite(tmp_path), OUTCOME=outcome)
    assert done.returncode == 1 and "1 failed" in done.stdout


def test_paths_that_hold_only_one_sides_tests_pass(tmp_path: Path) -> None:
    done = run(suite(tmp_path, SUITE.replace("@pytest.mark.cluster\n", "")))
    assert done.returncode == 0 and "2 passed" in done.stdout


def test_ctrl_c_ends_both_through_their_teardown_and_shows_the_clusters_output(tmp_path: Path) -> None:
    where = suite(tmp_path)
    variables = {**os.environ, "OBLAKO_TEST_BESIDE": "1", "OBLAKO_TEST_KUBECONFIG": "/nowhere", "HOLD": "120"}
    proc = subprocess.Popen(
        command(where), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=variables, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while not all((where / f"started-{t}").exists() for t in ("test_other", "test_in_the_cluster")):
            assert proc.poll() is None and time.monotonic() < deadline, "both halves to start their test"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert (where / "ended-test_other").exists() and (where / "ended-test_in_the_cluster").exists()
    assert out.count("KeyboardInterrupt") >= 2 and "=== the tests that need the Kubernetes cluster" in out


@pytest.mark.parametrize("unset", ["OBLAKO_TEST_KUBECONFIG", "OBLAKO_TEST_BESIDE"])
def test_without_a_cluster_named_or_unasked_it_is_plain_pytest(tmp_path: Path, unset: str) -> None:
    variables = {**os.environ, "OBLAKO_TEST_BESIDE": "1", "OBLAKO_TEST_KUBECONFIG": "/nowhere"}
    del variables[unset]
    done = subprocess.run(
        command(suite(tmp_path)), capture_output=True, text=True, timeout=120, env=variables, check=False
    )
    assert done.returncode == 0 and "2 passed" in done.stdout and "=== the tests" not in done.stdout


@pytest.mark.parametrize("value", ["yes", "2", "-1", "1 "])
def test_a_value_of_oblako_test_beside_other_than_0_or_1_is_refused_naming_it(tmp_path: Path, value: str) -> None:
    done = run(suite(tmp_path), OBLAKO_TEST_BESIDE=value)
    assert done.returncode == 2 and "OBLAKO_TEST_BESIDE must be 0 or 1" in done.stderr
    assert not (tmp_path / "started-test_other").exists()  # nothing ran
