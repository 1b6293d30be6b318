"""The contract suite run the two ways a third party runs it, in a pytest of its own.

- `examples/oblako-backend-example`, a backend outside plugins/ installed from its own
  folder, found by name, passes the suite from its own test module;
- `pytest --pyargs oblako_backends.testing.contract` runs the suite as shipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import runtimes
from oblako_backends.testing import contract

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "oblako-backend-example"


def pytest_in_subprocess(args: list[str], cwd: Path, engine: runtimes.Daemon) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBLAKO_", "DOCKER_", "PYTEST_"))}
    env["DOCKER_HOST"] = engine.url
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    argv += ["--oblako-test-image", runtimes.TEST_IMAGE, "-q", "-rs"]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_the_example_backend_from_outside_plugins_passes_the_contract(docker_engine: runtimes.Daemon) -> None:
    done = pytest_in_subprocess(
        ["-c", str(EXAMPLE / "pyproject.toml"), "--rootdir", str(EXAMPLE), "--oblako-backend", "example", "-rs"]
        + ["tests"],
        EXAMPLE,
        docker_engine,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "failed" not in summary, summary
    # What it skips is only what it does not declare (exec and Compose's options, here).
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("does not declare" in line for line in skipped), skipped


def test_the_shipped_contract_runs_with_pyargs(docker_engine: runtimes.Daemon, tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # none of this repo's settings
    done = pytest_in_subprocess(
        ["--pyargs", "oblako_backends.testing.contract", "--oblako-backend", "docker"], tmp_path, docker_engine
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    every = [name for name in dir(contract.TestBackendContract) if name.startswith("test_")]
    assert summary.startswith(f"{len(every)} passed") and "skipped" not in summary, summary  # docker declares all
